// The gnutls-session fuzz target (FuzzCore says what it does and checks).
import CFuzzDriver
import FuzzCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    SessionTarget.run(.gnutls, data, size)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: OpaquePointer?, _ argv: OpaquePointer?) -> CInt {
    Seeds.recordIfAsked("gnutls-session")
    return 0
}

/// SwiftPM links this executable's `main` to `gnutls_session_main`: hand over to libFuzzer.
@_cdecl("gnutls_session_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzOne(data, size) }
}
