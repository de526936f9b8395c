// The gnutls-session fuzz target (FuzzCore says what it does and checks).
import FuzzCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    SessionTarget.run(.gnutls, data, size)
}

@_cdecl("gnutls_session_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.main("gnutls-session", argc, argv) { data, size in fuzzOne(data, size) }
}
