// The openssl-client fuzz target (FuzzCore says what it does and checks).
import FuzzCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    EngineTarget.run(.openssl, .client, data, size)
}

@_cdecl("openssl_client_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.main("openssl-client", argc, argv) { data, size in fuzzOne(data, size) }
}
