internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit
import TLSKitInsecure

/// The OpenSSL backend's sans-I/O connection: one `SSL*` between two memory BIOs.
///
/// Network bytes are written into the read BIO, records are read out of the write BIO;
/// OpenSSL never sees a socket. Not thread-safe: one owner at a time.
final class OpenSSLConnection: TLSConnection {
    let side: TLSSide
    private let ssl: OpaquePointer
    private let readBIO: OpaquePointer
    private let writeBIO: OpaquePointer
    /// Keeps the context (and so the SSL_CTX and its callback data) alive.
    private let contextOwner: AnyObject
    private let expectedName: String?

    private var stickyError: TLSError?
    private let verifyPeer: (@Sendable (TLSPeerVerificationRequest) -> TLSPeerVerificationDecision)?
    /// Set during the handshake: the hook's rejection, and the chain of a rejected peer.
    private var hookRejection: String?
    private var rejectedChain: [[UInt8]] = []
    private let keyLog: (@Sendable (String) -> Void)?
    private let sessions: TLSSessionCache<OpenSSLSessionTicket>?
    private let insecure: TLSInsecure.Verification?
    private var handshakeDone = false
    private var inputEnded = false
    private var closeSent = false
    private var info: TLSConnectionInfo?

    init(client context: OpenSSLClientContext, serverName: TLSServerName) throws(TLSError) {
        side = .client
        contextOwner = context
        expectedName = serverName.description
        verifyPeer = context.handle.verifyPeer
        keyLog = context.handle.keyLog
        insecure = context.insecure
        sessions = context.configuration.resumesSessions ? context.sessions : nil
        (ssl, readBIO, writeBIO) = try Self.makeSSL(context.handle.pointer)
        SSL_set_connect_state(ssl)
        if let ticket = sessions?.take(for: serverName.description) {
            _ = SSL_set_session(ssl, ticket.pointer)  // takes its own reference
        }
        let param = SSL_get0_param(ssl)
        SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT))
        let checkName = insecure?.checksHostname ?? true
        switch serverName.kind {
        case .dns(let name):
            // On a throw below every stored property is set, so deinit frees the SSL.
            guard !checkName || SSL_set1_host(ssl, name) == 1, CTLSKitOpenSSLShims_SSL_set_tlsext_host_name(ssl, name) == 1 else {
                throw TLSError(
                    .configuration, "OpenSSL refused the server name '\(name)'",
                    backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: "serverName")
            }
        case .ipAddress(let bytes):
            guard !checkName || X509_VERIFY_PARAM_set1_ip(param, bytes, bytes.count) == 1 else {
                throw TLSError(
                    .configuration, "OpenSSL refused the IP address \(serverName)",
                    backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: "serverName")
            }
        }
        SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(self).toOpaque())
    }

    init(server context: OpenSSLServerContext) throws(TLSError) {
        side = .server
        contextOwner = context
        expectedName = nil
        verifyPeer = context.handle.verifyPeer
        keyLog = context.handle.keyLog
        insecure = nil
        sessions = nil
        (ssl, readBIO, writeBIO) = try Self.makeSSL(context.handle.pointer)
        SSL_set_accept_state(ssl)
        SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(self).toOpaque())
    }

    private static func makeSSL(_ ctx: OpaquePointer) throws(TLSError) -> (OpaquePointer, OpaquePointer, OpaquePointer) {
        ERR_clear_error()
        guard let ssl = SSL_new(ctx) else {
            throw TLSError(.internal, "SSL_new failed", backendErrors: OpenSSLErrorStack.drain().map(\.text))
        }
        guard let rbio = BIO_new(BIO_s_mem()), let wbio = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError(.internal, "BIO_new failed", backendErrors: OpenSSLErrorStack.drain().map(\.text))
        }
        // An empty read BIO means "retry later", not end of file, until receiveEndOfInput().
        _ = CTLSKitOpenSSLShims_BIO_set_mem_eof_return(rbio, -1)
        SSL_set_bio(ssl, rbio, wbio)  // the SSL now owns both BIOs
        return (ssl, rbio, wbio)
    }

    deinit { SSL_free(ssl) }

    // MARK: Network side

    func receive(_ bytes: UnsafeRawBufferPointer) throws(TLSError) {
        if let stickyError { throw stickyError }
        guard !inputEnded else {
            throw TLSError(.invalidState, "receive(_:) after receiveEndOfInput(): the transport has already ended")
        }
        var offset = 0
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, Int(Int32.max))
            let written = BIO_write(readBIO, bytes.baseAddress! + offset, Int32(chunk))
            guard written > 0 else { throw TLSError(.internal, "BIO_write to the memory BIO failed") }
            offset += Int(written)
        }
    }

    func receiveEndOfInput() {
        guard !inputEnded else { return }
        inputEnded = true
        _ = CTLSKitOpenSSLShims_BIO_set_mem_eof_return(readBIO, 0)
    }

    var pendingOutputByteCount: Int { Int(BIO_ctrl_pending(writeBIO)) }

    func drainOutput(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let n = BIO_read(writeBIO, base, Int32(min(buffer.count, Int(Int32.max))))
        return n > 0 ? Int(n) : 0
    }

    // MARK: Handshake

    var isHandshakeComplete: Bool { handshakeDone }

    func handshake() throws(TLSError) -> TLSHandshakeStatus {
        if let stickyError { throw stickyError }
        if handshakeDone { return .complete }
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            handshakeDone = true
            info = makeInfo()
            // A resumed TLS 1.2 session gets no new-session callback: keep it for next time.
            if let sessions, let name = expectedName, info?.resumed == true, info?.protocolVersion != .tls1_3,
                let session = SSL_get1_session(ssl)
            {
                sessions.store(OpenSSLSessionTicket(takingOwnership: session), for: name)
            }
            return .complete
        }
        let error = SSL_get_error(ssl, result)
        if error == SSL_ERROR_WANT_READ {
            if pendingOutputByteCount > 0 { return .outputPending }
            return .needsInput
        }
        throw fail(error, phase: .handshake)
    }

    // MARK: Application data

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> TLSReadResult {
        if let stickyError { throw stickyError }
        guard handshakeDone else {
            throw TLSError(.invalidState, "read(into:) before the handshake completed; call handshake() first")
        }
        guard let base = buffer.baseAddress, buffer.count > 0 else {
            throw TLSError(.invalidState, "read(into:) needs a buffer of at least one byte")
        }
        if SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN != 0 { return .closed }
        ERR_clear_error()
        var count = 0
        if SSL_read_ex(ssl, base, buffer.count, &count) == 1 { return .bytes(count) }
        let error = SSL_get_error(ssl, 0)
        switch error {
        case SSL_ERROR_WANT_READ: return .needsInput
        case SSL_ERROR_ZERO_RETURN: return .closed
        default: throw fail(error, phase: .read)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(TLSError) -> Int {
        if let stickyError { throw stickyError }
        guard handshakeDone else {
            throw TLSError(.invalidState, "write(_:) before the handshake completed; call handshake() first")
        }
        guard !closeSent else { throw TLSError(.closed, "write(_:) after shutdown(): close_notify was already sent") }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        ERR_clear_error()
        var written = 0
        if SSL_write_ex(ssl, base, bytes.count, &written) == 1 { return written }
        throw fail(SSL_get_error(ssl, 0), phase: .write)
    }

    func shutdown() throws(TLSError) -> TLSShutdownStatus {
        if let stickyError { throw stickyError }
        guard handshakeDone else {
            closeSent = true
            return .complete
        }
        ERR_clear_error()
        closeSent = true
        let result = SSL_shutdown(ssl)
        if result == 1 { return .complete }
        if result == 0 { return .awaitingPeer }
        let error = SSL_get_error(ssl, result)
        if error == SSL_ERROR_WANT_READ { return .awaitingPeer }
        throw fail(error, phase: .shutdown)
    }

    var connectionInfo: TLSConnectionInfo? { info }

    func takeUnprocessedInput() -> [UInt8] {
        let count = Int(BIO_ctrl_pending(readBIO))
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        let n = BIO_read(readBIO, &bytes, Int32(count))
        return n > 0 ? Array(bytes.prefix(Int(n))) : []
    }

    // MARK: Helpers

    private func fail(_ sslError: Int32, phase: OpenSSLFailure.Phase) -> TLSError {
        let entries = OpenSSLErrorStack.drain()
        var error = OpenSSLFailure.make(
            sslError: sslError, entries: entries, verifyResult: Int(SSL_get_verify_result(ssl)),
            phase: phase, side: side, expectedName: expectedName, hookRejection: hookRejection)
        error.verificationFailure?.peerCertificates = rejectedChain
        stickyError = error
        return error
    }

    /// Called when a session ticket arrives: keep it (we take OpenSSL's reference).
    func keepSession(_ session: OpaquePointer) -> Int32 {
        guard let sessions, let name = expectedName, SSL_SESSION_is_resumable(session) == 1 else { return 0 }
        sessions.store(OpenSSLSessionTicket(takingOwnership: session), for: name)
        return 1
    }

    /// Called from the ticket-key callback (servers).
    func ticketKey(
        name: UnsafeMutablePointer<UInt8>, iv: UnsafeMutablePointer<UInt8>, cipherContext: OpaquePointer,
        macContext: OpaquePointer, encrypt: Bool
    ) -> Int32 {
        guard let keys = (contextOwner as? OpenSSLServerContext)?.ticketKeys else { return -1 }
        return keys.handle(name: name, iv: iv, cipherContext: cipherContext, macContext: macContext, encrypt: encrypt)
    }

    /// Called from the key-log callback (TLSKitInsecure).
    func logKeys(_ line: String) { keyLog?(line) }

    /// Called from the certificate-verify callback: OpenSSL has verified the chain
    /// (`verified` is its result). Keeps a rejected chain for the error; runs the hook.
    func afterChainVerification(_ storeContext: OpaquePointer, verified: Int32) -> Int32 {
        guard verified == 1 || verifyPeer != nil else {
            rejectedChain = Self.chain(of: storeContext)
            return verified
        }
        let chain = Self.chain(of: storeContext)
        guard verified == 1 else {
            rejectedChain = chain
            return verified
        }
        guard let verifyPeer else { return 1 }
        var alpnPointer: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &alpnPointer, &alpnLength)
        let alpn = alpnPointer.flatMap { TLSApplicationProtocol(bytes: Array(UnsafeBufferPointer(start: $0, count: Int(alpnLength)))) }
        let name = side == .client
            ? expectedName : SSL_get_servername(ssl, Int32(TLSEXT_NAMETYPE_host_name)).map { String(cString: $0) }
        var verified: [[UInt8]] = []
        if let stack = X509_STORE_CTX_get0_chain(storeContext) {
            verified = (0..<Int(CTLSKitOpenSSLShims_sk_X509_num(stack))).compactMap { i in
                CTLSKitOpenSSLShims_sk_X509_value(stack, Int32(i)).map { OpenSSLCertificateRef.der(of: $0) }
            }
        }
        let request = TLSPeerVerificationRequest(
            side: side, peerCertificates: chain, serverName: name, applicationProtocol: alpn, verifiedChain: verified)
        switch verifyPeer(request) {
        case .accept:
            return 1
        case .reject(let reason):
            hookRejection = reason
            rejectedChain = chain
            X509_STORE_CTX_set_error(storeContext, X509_V_ERR_APPLICATION_VERIFICATION)
            return 0
        }
    }

    private static func chain(of storeContext: OpaquePointer) -> [[UInt8]] {
        guard let untrusted = X509_STORE_CTX_get0_untrusted(storeContext) else {
            return X509_STORE_CTX_get0_cert(storeContext).map { [OpenSSLCertificateRef.der(of: $0)] } ?? []
        }
        return (0..<Int(CTLSKitOpenSSLShims_sk_X509_num(untrusted))).compactMap { i in
            CTLSKitOpenSSLShims_sk_X509_value(untrusted, Int32(i)).map { OpenSSLCertificateRef.der(of: $0) }
        }
    }

    private func makeInfo() -> TLSConnectionInfo {
        let version = TLSProtocolVersion(rawValue: UInt16(truncatingIfNeeded: SSL_version(ssl)))
        let cipher = SSL_get_current_cipher(ssl).map { SSL_CIPHER_get_protocol_id($0) } ?? 0
        var alpnPointer: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &alpnPointer, &alpnLength)
        var alpn: TLSApplicationProtocol?
        if let alpnPointer, alpnLength > 0 {
            alpn = TLSApplicationProtocol(bytes: Array(UnsafeBufferPointer(start: alpnPointer, count: Int(alpnLength))))
        }
        let serverName: String?
        if side == .client {
            serverName = expectedName
        } else {
            serverName = SSL_get_servername(ssl, Int32(TLSEXT_NAMETYPE_host_name)).map { String(cString: $0) }
        }
        let group = OpenSSLGroups.group(forNID: CTLSKitOpenSSLShims_SSL_get_negotiated_group(ssl))

        var peer: [[UInt8]] = []
        if let leaf = SSL_get0_peer_certificate(ssl) {
            peer.append(OpenSSLCertificateRef.der(of: leaf))
            if let chain = SSL_get_peer_cert_chain(ssl) {
                // On the client the stack starts with the leaf; on the server it does not.
                let start = side == .client ? 1 : 0
                let count = Int(CTLSKitOpenSSLShims_sk_X509_num(chain))
                if start < count {
                    for i in start..<count {
                        if let cert = CTLSKitOpenSSLShims_sk_X509_value(chain, Int32(i)) {
                            peer.append(OpenSSLCertificateRef.der(of: cert))
                        }
                    }
                }
            }
        }
        var verified: [[UInt8]] = []
        if !peer.isEmpty, let chain = SSL_get0_verified_chain(ssl) {
            for i in 0..<Int(CTLSKitOpenSSLShims_sk_X509_num(chain)) {
                if let cert = CTLSKitOpenSSLShims_sk_X509_value(chain, Int32(i)) {
                    verified.append(OpenSSLCertificateRef.der(of: cert))
                }
            }
        }
        let isVerified = !peer.isEmpty && SSL_get_verify_result(ssl) == X509_V_OK && insecure == nil
        return TLSConnectionInfo(
            protocolVersion: version,
            cipherSuite: TLSCipherSuite(rawValue: cipher),
            applicationProtocol: alpn,
            serverName: serverName,
            keyExchangeGroup: group,
            resumed: SSL_session_reused(ssl) == 1,
            peerCertificates: peer,
            verifiedChain: isVerified ? verified : [],
            peerVerification: insecure != nil ? .insecurelySkipped : (isVerified ? .verified : .noCertificate)
        )
    }
}
