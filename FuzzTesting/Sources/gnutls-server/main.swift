// The gnutls-server fuzz target (FuzzCore says what it does and checks).
import FuzzCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    EngineTarget.run(.gnutls, .server, data, size)
}

@_cdecl("gnutls_server_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.main("gnutls-server", argc, argv) { data, size in fuzzOne(data, size) }
}
