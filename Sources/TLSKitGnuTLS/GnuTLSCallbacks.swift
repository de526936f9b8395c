internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
import TLSKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The C callbacks of a GnuTLS session: no captures; the connection comes through the
// transport or session pointer.

let pushCallback: @convention(c) (gnutls_transport_ptr_t?, UnsafeRawPointer?, Int) -> Int = { ptr, data, size in
    guard let ptr, let data else { return -1 }
    let connection = Unmanaged<GnuTLSConnection>.fromOpaque(ptr).takeUnretainedValue()
    connection.pushOutput(UnsafeRawBufferPointer(start: data, count: size))
    return size
}

let pullCallback: @convention(c) (gnutls_transport_ptr_t?, UnsafeMutableRawPointer?, Int) -> Int = { ptr, data, size in
    guard let ptr, let data else { return -1 }
    let connection = Unmanaged<GnuTLSConnection>.fromOpaque(ptr).takeUnretainedValue()
    if connection.pendingInputCount > 0 { return connection.pullInput(into: data, maximum: size) }
    if connection.contract.inputEnded { return 0 }
    connection.setTransportErrno(EAGAIN)
    return -1
}

let pullTimeoutCallback: @convention(c) (gnutls_transport_ptr_t?, UInt32) -> Int32 = { ptr, _ in
    guard let ptr else { return -1 }
    let connection = Unmanaged<GnuTLSConnection>.fromOpaque(ptr).takeUnretainedValue()
    return connection.pendingInputCount > 0 || connection.contract.inputEnded ? 1 : 0
}

let verifyCallback: @convention(c) (gnutls_session_t?) -> Int32 = { session in
    guard let session, let ptr = gnutls_session_get_ptr(session) else { return -1 }
    return Unmanaged<GnuTLSConnection>.fromOpaque(ptr).takeUnretainedValue().verifyPeer()
}

let keyLogCallback: @convention(c) (gnutls_session_t?, UnsafePointer<CChar>?, UnsafePointer<gnutls_datum_t>?) -> Int32 = {
    session, label, secret in
    guard let session, let label, let secret, let ptr = gnutls_session_get_ptr(session) else { return 0 }
    Unmanaged<GnuTLSConnection>.fromOpaque(ptr).takeUnretainedValue().logKey(label: String(cString: label), secret: secret.pointee)
    return 0
}

let ticketHook: @convention(c) (gnutls_session_t?, UInt32, UInt32, UInt32, UnsafePointer<gnutls_datum_t>?) -> Int32 = {
    session, _, _, incoming, _ in
    guard let session, incoming != 0, let ptr = gnutls_session_get_ptr(session) else { return 0 }
    Unmanaged<GnuTLSConnection>.fromOpaque(ptr).takeUnretainedValue().keepSession()
    return 0
}

let clientHelloCallback: @convention(c) (gnutls_session_t?) -> Int32 = { session in
    guard let session, let ptr = gnutls_session_get_ptr(session) else { return 0 }
    return Unmanaged<GnuTLSConnection>.fromOpaque(ptr).takeUnretainedValue().selectChain()
}

extension GnuTLSConnection {
    func setTransportErrno(_ code: Int32) { gnutls_transport_set_errno(session, code) }
}

/// Servers with a certificate resolver: reads the offered signature schemes and ALPN from
/// the raw ClientHello, before GnuTLS processes it.
let clientHelloHook: @convention(c) (gnutls_session_t?, UInt32, UInt32, UInt32, UnsafePointer<gnutls_datum_t>?) -> Int32 = {
    session, _, _, incoming, message in
    guard let session, incoming != 0, var message = message?.pointee, let ptr = gnutls_session_get_ptr(session) else { return 0 }
    // Any malformed ClientHello is GnuTLS's to reject: this only reads what parses.
    _ = gnutls_ext_raw_parse(ptr, clientHelloExtension, &message, UInt32(GNUTLS_EXT_RAW_FLAG_TLS_CLIENT_HELLO))
    return 0
}

private let clientHelloExtension: @convention(c) (UnsafeMutableRawPointer?, UInt32, UnsafePointer<UInt8>?, UInt32) -> Int32 = {
    ptr, id, data, size in
    guard let ptr, let data else { return 0 }
    let connection = Unmanaged<GnuTLSConnection>.fromOpaque(ptr).takeUnretainedValue()
    let body = UnsafeRawBufferPointer(start: data, count: Int(size))
    switch id {
    case 13: connection.offeredSchemes = TLSClientHelloExtensions.signatureSchemes(body)
    case 16: connection.offeredProtocols = TLSClientHelloExtensions.applicationProtocols(body)
    default: break
    }
    return 0
}
