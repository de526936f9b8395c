// The gnutls-client fuzz target (FuzzCore says what it does and checks).
import FuzzCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    EngineTarget.run(.gnutls, .client, data, size)
}

@_cdecl("gnutls_client_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.main("gnutls-client", argc, argv) { data, size in fuzzOne(data, size) }
}
