internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit

// The C callbacks of the OpenSSL backend: no captures; a connection is found through its
// `SSL*` (OpenSSLConnection.from), a context handle through the callback's arg pointer.

/// Hands NSS key-log lines to the context's sink (TLSKitInsecure).
let keyLogCallback: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Void = { ssl, line in
    guard let ssl, let line, let connection = OpenSSLConnection.from(ssl) else { return }
    connection.logKeys(String(cString: line))
}

/// OpenSSL asks for a session-ticket key (to seal a ticket, or to open one).
let ticketKeyCallback:
    @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?, OpaquePointer?, OpaquePointer?, Int32
    ) -> Int32 = { ssl, name, iv, cipherContext, macContext, encrypt in
        guard let ssl, let name, let iv, let cipherContext, let macContext, let connection = OpenSSLConnection.from(ssl) else { return -1 }
        return connection.ticketKey(name: name, iv: iv, cipherContext: cipherContext, macContext: macContext, encrypt: encrypt == 1)
    }

/// A new session (ticket) arrived on a client connection: keep it for the next connection.
let newSessionCallback: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32 = { ssl, session in
    guard let ssl, let session, let connection = OpenSSLConnection.from(ssl) else { return 0 }
    return connection.keepSession(session)
}

/// Owns one `SSL_SESSION*` (a ticket) in a client context's session cache.
final class OpenSSLSessionTicket: @unchecked Sendable {
    // @unchecked: never mutated; OpenSSL reference-counts sessions.
    let pointer: OpaquePointer
    init(takingOwnership pointer: OpaquePointer) { self.pointer = pointer }
    deinit { SSL_SESSION_free(pointer) }
}

/// Verifies the peer: the connection runs OpenSSL's chain verification (or compares pins),
/// then the context's policies. Fails closed when the connection cannot be found.
let certVerifyCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { storeContext, _ in
    guard let storeContext,
        let ssl = X509_STORE_CTX_get_ex_data(storeContext, SSL_get_ex_data_X509_STORE_CTX_idx()),
        let connection = OpenSSLConnection.from(OpaquePointer(ssl))
    else { return 0 }
    return connection.verifyPeerChain(storeContext)
}

/// A session ticket is about to be sealed (servers): record when the client was verified.
let ticketGenerateCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { ssl, _ in
    guard let ssl, let connection = OpenSSLConnection.from(ssl) else { return 0 }
    return connection.sealTicketAuthentication()
}

/// A ticket came back (servers): resume only if the session may still be resumed.
let ticketDecryptCallback:
    @convention(c) (
        OpaquePointer?, OpaquePointer?, UnsafePointer<UInt8>?, Int, Int32, UnsafeMutableRawPointer?
    ) -> Int32 = { ssl, session, _, _, status, _ in
        switch status {
        case SSL_TICKET_SUCCESS, SSL_TICKET_SUCCESS_RENEW:
            guard let ssl, let session, let connection = OpenSSLConnection.from(ssl) else { return SSL_TICKET_RETURN_IGNORE_RENEW }
            guard connection.mayResume(session) else { return SSL_TICKET_RETURN_IGNORE_RENEW }
            return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW
        case SSL_TICKET_EMPTY, SSL_TICKET_NO_DECRYPT:
            return SSL_TICKET_RETURN_IGNORE_RENEW
        default:
            return SSL_TICKET_RETURN_ABORT
        }
    }

/// ALPN selection on the server: the server's order wins; no overlap is fatal
/// (no_application_protocol), as RFC 7301 §3.2 asks.
let alpnSelectCallback:
    @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
        UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
    ) -> Int32 = { _, out, outLength, clientList, clientLength, arg in
        guard let arg, let out, let outLength, let clientList else { return SSL_TLSEXT_ERR_NOACK }
        let handle = Unmanaged<OpenSSLContextHandle>.fromOpaque(arg).takeUnretainedValue()
        guard let server = handle.alpnWire else { return SSL_TLSEXT_ERR_NOACK }
        var selected: UnsafeMutablePointer<UInt8>?
        let status = SSL_select_next_proto(
            &selected, outLength, server.baseAddress, UInt32(server.count), clientList, clientLength)
        guard status == OPENSSL_NPN_NEGOTIATED, let selected else { return SSL_TLSEXT_ERR_ALERT_FATAL }
        out.pointee = UnsafePointer(selected)
        return SSL_TLSEXT_ERR_OK
    }

/// SNI on the server: switch to the first alternative context whose leaf is valid for the
/// name the client sent; stay on the default otherwise.
let serverNameCallback:
    @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?)
        -> Int32 = { ssl, _, arg in
            guard let ssl, let arg, let name = SSL_get_servername(ssl, Int32(TLSEXT_NAMETYPE_host_name)) else {
                return SSL_TLSEXT_ERR_OK
            }
            // The certificate resolver chose already (its context has no alternatives).
            if OpenSSLConnection.from(ssl)?.resolvedHandle != nil { return SSL_TLSEXT_ERR_OK }
            let primary = Unmanaged<OpenSSLContextHandle>.fromOpaque(arg).takeUnretainedValue()
            if let leaf = primary.leaf, X509_check_host(leaf.pointer, name, 0, 0, nil) == 1 { return SSL_TLSEXT_ERR_OK }
            for alternative in primary.alternatives {
                if let leaf = alternative.leaf, X509_check_host(leaf.pointer, name, 0, 0, nil) == 1 {
                    _ = SSL_set_SSL_CTX(ssl, alternative.pointer)
                    break
                }
            }
            return SSL_TLSEXT_ERR_OK
        }
