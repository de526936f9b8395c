// The gnutls-client fuzz target (FuzzCore says what it does and checks).
import CFuzzDriver
import FuzzCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    EngineTarget.run(.gnutls, .client, data, size)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: OpaquePointer?, _ argv: OpaquePointer?) -> CInt {
    Seeds.recordIfAsked("gnutls-client")
    return 0
}

/// SwiftPM links this executable's `main` to `gnutls_client_main`: hand over to libFuzzer.
@_cdecl("gnutls_client_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzOne(data, size) }
}
