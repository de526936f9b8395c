internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit
import TLSKitInsecure

/// The OpenSSL backend's sans-I/O connection: one `SSL*` over a pipe BIO.
///
/// Network bytes go into the pipe's input queue, records come out of its output queue
/// (CTLSKitOpenSSLPipe.h); OpenSSL never sees a socket. Not thread-safe: one owner at a time.
final class OpenSSLConnection: TLSConnection, TLSQueueStorageReporting, TLSBufferLending {
    let side: TLSSide
    let ssl: OpaquePointer
    /// The SSL*'s read and write BIO (the SSL* owns it): queues that hold no storage when
    /// empty, so an idle connection keeps no buffers.
    private let pipe: OpaquePointer
    /// Keeps the context (and so the SSL_CTX and its callback data) alive.
    private let contextOwner: AnyObject
    private let expectedName: String?

    /// The contract's state: sticky error, handshake done, input ended, close sent.
    private var state = TLSConnectionState()
    /// The context's settings for verifying the peer.
    let handle: OpenSSLContextHandle
    /// Set during the handshake: a rejection TLSKit made itself (pins, chain length,
    /// policies), and the chain of a rejected peer.
    @TLSIndirect var ownFailure: TLSVerificationFailure?
    var rejectedChain: [[UInt8]] = []
    /// Servers: the context (for its certificate resolver).
    let serverContext: OpenSSLServerContext?
    /// Servers: the context the resolver's chain is in (kept alive here: the context's
    /// cache may drop it), and why the resolver failed the handshake, if it did.
    var resolvedHandle: OpenSSLContextHandle?
    @TLSIndirect var resolverFailure: TLSError?
    /// Clients: what to do about OCSP stapling, what the server stapled, and why the
    /// staple failed the handshake, if it did.
    let ocspStapling: TLSOCSPStapling
    var stapledResponse: [UInt8]?
    @TLSIndirect var stapleFailure: TLSVerificationFailure?
    /// What is known about the peer: from this handshake's verification, or, on a
    /// resumption, from the full handshake the session comes from.
    @TLSIndirect var authentication: TLSSessionAuthentication?
    /// The wall clock for resumption ages.
    let clock: TLSWallClock
    private let keyLog: (@Sendable (String) -> Void)?
    private let sessions: TLSSessionCache<OpenSSLSessionTicket>?
    let insecure: TLSInsecure.Verification?
    private var info: TLSConnectionInfo?
    /// Asynchronous policies: whether the driver opted in, and what the handshake waits for.
    var suspension = TLSVerificationSuspension()
    /// Clients: the ticket taken from the cache, not yet offered: the policies are asked
    /// about it when the handshake starts (they may be asynchronous).
    @TLSIndirect private var resumptionCandidate: (ticket: OpenSSLSessionTicket, authentication: TLSSessionAuthentication)?

    init(client context: OpenSSLClientContext, serverName: TLSServerName) throws(TLSError) {
        side = .client
        contextOwner = context
        serverContext = nil
        ocspStapling = context.configuration.ocspStapling
        expectedName = serverName.description
        handle = context.handle
        keyLog = context.handle.keyLog
        insecure = context.insecure
        sessions = context.configuration.resumesSessions ? context.sessions : nil
        clock = context.sessions.clock
        (ssl, pipe) = try Self.makeSSL(context.handle.pointer)
        SSL_set_connect_state(ssl)
        // Offer a ticket only while the server may be trusted without seeing its
        // certificate again: young enough and its certificate still valid here; whether the
        // policies agree is asked when the handshake starts (see resolveResumption).
        resumptionCandidate = sessions?.takeResumable(
            for: serverName.description, maximumAge: handle.maximumResumptionAge,
            verificationTime: handle.verificationTime, checks: nil)
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
        SSL_set_ex_data(ssl, Self.exDataIndex, Unmanaged.passUnretained(self).toOpaque())
    }

    init(server context: OpenSSLServerContext) throws(TLSError) {
        side = .server
        contextOwner = context
        serverContext = context
        ocspStapling = .ignore
        expectedName = nil
        // One read: a rotation (replaceCertificateChains) may swap the context's handle at
        // any moment, and the SSL* must be made from the handle this connection keeps alive.
        let handle = context.handle
        self.handle = handle
        clock = context.clock
        keyLog = handle.keyLog
        insecure = nil
        sessions = nil
        (ssl, pipe) = try Self.makeSSL(handle.pointer)
        SSL_set_accept_state(ssl)
        SSL_set_ex_data(ssl, Self.exDataIndex, Unmanaged.passUnretained(self).toOpaque())
    }

    private static func makeSSL(_ ctx: OpaquePointer) throws(TLSError) -> (OpaquePointer, OpaquePointer) {
        ERR_clear_error()
        guard let ssl = SSL_new(ctx) else {
            throw TLSError(.internal, "SSL_new failed", backendErrors: OpenSSLErrorStack.drain().map(\.text))
        }
        // An empty input queue means "retry later", not end of file, until receiveEndOfInput().
        guard let pipe = CTLSKitPipe_new() else {
            SSL_free(ssl)
            throw TLSError(.internal, "out of memory for the connection's BIO", backendErrors: OpenSSLErrorStack.drain().map(\.text))
        }
        SSL_set_bio(ssl, pipe, pipe)  // one BIO both ways: the SSL now owns its one reference
        return (ssl, pipe)
    }

    deinit { SSL_free(ssl) }

    /// The `SSL*` application-data slot that points back at the connection, reserved once
    /// per process (`SSL_get_ex_new_index`), so no other user of the same `SSL*` collides.
    static let exDataIndex: Int32 = {
        let index = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, nil, nil, nil, nil)
        guard index >= 0 else { preconditionFailure("OpenSSL has no application-data index left for TLSKit") }
        return index
    }()

    /// The connection an `SSL*` belongs to, in OpenSSL's callbacks.
    static func from(_ ssl: OpaquePointer) -> OpenSSLConnection? {
        guard let pointer = SSL_get_ex_data(ssl, exDataIndex) else { return nil }
        return Unmanaged<OpenSSLConnection>.fromOpaque(pointer).takeUnretainedValue()
    }

    // MARK: Network side

    func receive(_ bytes: UnsafeRawBufferPointer) throws(TLSError) {
        try state.checkReceive()
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        guard CTLSKitPipe_receive(pipe, base, bytes.count) == 1 else {
            throw TLSError(.internal, "out of memory queueing \(bytes.count) received bytes for OpenSSL")
        }
    }

    func withLentInput(_ bytes: UnsafeRawBufferPointer, _ body: () -> Void) throws(TLSError) {
        try state.checkReceive()
        guard let base = bytes.baseAddress, bytes.count > 0 else { return body() }
        guard CTLSKitPipe_lend_input(pipe, base, bytes.count) == 1 else {
            throw TLSError(.internal, "out of memory queueing received bytes for OpenSSL")
        }
        body()
        guard CTLSKitPipe_settle_input(pipe) == 1 else {
            throw TLSError(.internal, "out of memory queueing the \(CTLSKitPipe_pending_input(pipe)) received bytes OpenSSL has not read yet")
        }
    }

    func withLentOutput(_ buffer: UnsafeMutableRawBufferPointer, _ body: () -> Void) -> Int {
        guard CTLSKitPipe_lend_output(pipe, buffer.baseAddress, buffer.count) == 1 else {
            body()
            return 0
        }
        body()
        return CTLSKitPipe_settle_output(pipe)
    }

    func receiveEndOfInput() {
        guard state.markInputEnded() else { return }
        CTLSKitPipe_end_input(pipe)
    }

    var pendingOutputByteCount: Int { CTLSKitPipe_pending_output(pipe) }

    func drainOutput(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        return CTLSKitPipe_drain_output(pipe, base, buffer.count)
    }

    // MARK: Handshake

    var isHandshakeComplete: Bool { state.handshakeDone }

    func handshake() throws(TLSError) -> TLSHandshakeStatus {
        try state.checkUsable()
        if state.handshakeDone { return .complete }
        if suspension.isWaiting { return .verificationPending }
        if resumptionCandidate != nil, !resolveResumption() { return .verificationPending }
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if suspension.isWaiting {
            // The verify callback asked to suspend: anything but retry-verify would go on
            // without the verdict, so it fails closed.
            guard result != 1, SSL_get_error(ssl, result) == SSL_ERROR_WANT_RETRY_VERIFY else {
                throw state.fail(
                    TLSError(.internal, "OpenSSL did not suspend the handshake for an asynchronous verification policy; the handshake is refused"))
            }
            return .verificationPending
        }
        if result == 1 {
            state.markHandshakeDone()
            info = makeInfo()
            // A resumed TLS 1.2 session gets no new-session callback: keep it for next time.
            if let sessions, let name = expectedName, info?.resumed == true, info?.protocolVersion != .tls1_3,
                let authentication, let session = SSL_get1_session(ssl)
            {
                sessions.store(OpenSSLSessionTicket(takingOwnership: session), authentication: authentication, for: name)
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

    func enableAsynchronousVerification() { suspension.enabled = true }

    var pendingVerification: TLSPendingVerification? { suspension.isWaiting ? suspension.pending : nil }

    func completeVerification(_ verdict: TLSVerificationVerdict) throws(TLSError) {
        try state.checkUsable()
        try suspension.complete(verdict)
    }

    /// Clients, before the first flight: asks the policies whether the remembered session
    /// may be offered; an accepted ticket is set on the `SSL*`, a refused one dropped (the
    /// handshake is then a full one). Returns `false` while an asynchronous policy's verdict
    /// is awaited.
    private func resolveResumption() -> Bool {
        guard let (ticket, remembered) = resumptionCandidate else { return true }
        if let checks = handle.checks, let request = remembered.resumptionRequest(side: .client, serverName: expectedName) {
            switch suspension.run(checks, request, suspend: { true }) {
            case .pending: return false
            case .rejected:
                resumptionCandidate = nil
                return true
            case .accepted: break
            }
        }
        resumptionCandidate = nil
        _ = SSL_set_session(ssl, ticket.pointer)  // takes its own reference
        authentication = remembered
        return true
    }

    // MARK: Application data

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> TLSReadResult {
        let base = try state.checkRead(buffer)
        if SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN != 0 { return .closed }
        OpenSSLErrorStack.clearBeforeCall()
        var count = 0
        let status = SSL_read_ex(ssl, base, buffer.count, &count)
        let error = status == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, 0)
        if status == 1 { return .bytes(count) }
        switch error {
        case SSL_ERROR_WANT_READ: return .needsInput
        case SSL_ERROR_ZERO_RETURN: return .closed
        default: throw fail(error, phase: .read)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(TLSError) -> Int {
        try state.checkWrite()
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        OpenSSLErrorStack.clearBeforeCall()
        var written = 0
        if SSL_write_ex(ssl, base, bytes.count, &written) == 1 { return written }
        throw fail(SSL_get_error(ssl, 0), phase: .write)
    }

    func shutdown() throws(TLSError) -> TLSShutdownStatus {
        try state.checkUsable()
        state.markCloseSent()
        guard state.handshakeDone else { return .complete }
        ERR_clear_error()
        let result = SSL_shutdown(ssl)
        if result == 1 { return .complete }
        if result == 0 { return .awaitingPeer }
        let error = SSL_get_error(ssl, result)
        if error == SSL_ERROR_WANT_READ { return .awaitingPeer }
        throw fail(error, phase: .shutdown)
    }

    var connectionInfo: TLSConnectionInfo? { info }

    func updateKeys(requestingPeerUpdate: Bool) throws(TLSError) {
        try state.checkKeyUpdate(isTLS13: SSL_version(ssl) == TLS1_3_VERSION)
        ERR_clear_error()
        guard SSL_key_update(ssl, requestingPeerUpdate ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) == 1 else {
            throw TLSError(.internal, "SSL_key_update failed", backendErrors: OpenSSLErrorStack.drain().map(\.text))
        }
        if SSL_do_handshake(ssl) != 1, SSL_get_error(ssl, 0) != SSL_ERROR_WANT_READ {
            throw fail(SSL_get_error(ssl, 0), phase: .write)
        }
    }

    func takeUnprocessedInput() -> [UInt8] {
        let count = CTLSKitPipe_pending_input(pipe)
        guard count > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = CTLSKitPipe_take_input(pipe, buffer.baseAddress!, count)
        }
    }

    // MARK: Helpers

    var queueStorageByteCount: Int { CTLSKitPipe_storage(pipe) }

    private func fail(_ sslError: Int32, phase: OpenSSLFailure.Phase) -> TLSError {
        let entries = OpenSSLErrorStack.drain()
        var error: TLSError
        if var resolverFailure {
            resolverFailure.backendErrors += entries.map(\.text)
            error = resolverFailure
        } else if var stapleFailure {
            stapleFailure.peerCertificates = authentication?.peerCertificates ?? []
            error = .verificationRejected(stapleFailure, peer: "server", backendErrors: entries.map(\.text))
        } else if var ownFailure, SSL_get_verify_result(ssl) != X509_V_OK {
            ownFailure.peerCertificates = rejectedChain
            error = .verificationRejected(ownFailure, peer: side == .client ? "server" : "client", backendErrors: entries.map(\.text))
        } else {
            error = OpenSSLFailure.make(
                sslError: sslError, entries: entries, verifyResult: Int(SSL_get_verify_result(ssl)),
                phase: phase, side: side, expectedName: expectedName)
            error.verificationFailure?.peerCertificates = rejectedChain
        }
        return state.fail(error)
    }

    /// Called when a session ticket arrives: keep it (we take OpenSSL's reference).
    func keepSession(_ session: OpaquePointer) -> Int32 {
        guard let sessions, let name = expectedName, let authentication, SSL_SESSION_is_resumable(session) == 1 else {
            return 0
        }
        sessions.store(OpenSSLSessionTicket(takingOwnership: session), authentication: authentication, for: name)
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

    func peerName() -> String? {
        side == .client ? expectedName : SSL_get_servername(ssl, Int32(TLSEXT_NAMETYPE_host_name)).map { String(cString: $0) }
    }

    func alpn() -> TLSApplicationProtocol? {
        var pointer: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &pointer, &length)
        guard let pointer, length > 0 else { return nil }
        return TLSApplicationProtocol(bytes: Array(UnsafeBufferPointer(start: pointer, count: Int(length))))
    }

    private func makeInfo() -> TLSConnectionInfo {
        let version = TLSProtocolVersion(rawValue: UInt16(truncatingIfNeeded: SSL_version(ssl)))
        let cipher = SSL_get_current_cipher(ssl).map { SSL_CIPHER_get_protocol_id($0) } ?? 0
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
        // What verifyPeerChain established (or, resumed, what the full handshake did).
        let verification: TLSPeerVerification
        if peer.isEmpty {
            verification = .noCertificate
        } else if insecure?.verifiesCertificate == false {
            verification = .insecurelySkipped
        } else if insecure != nil {
            verification = .insecurelySkipped  // the chain was verified, the name was not
        } else {
            verification = authentication?.verification ?? .noCertificate
        }
        let verified = verification == .verified || verification == .pinned ? authentication?.verifiedChain ?? [] : []
        return TLSConnectionInfo(
            protocolVersion: version,
            cipherSuite: TLSCipherSuite(rawValue: cipher),
            applicationProtocol: alpn(),
            serverName: peerName(),
            keyExchangeGroup: group,
            resumed: SSL_session_reused(ssl) == 1,
            peerCertificates: peer,
            verifiedChain: verified,
            peerVerification: verification,
            ocspResponse: side == .client && SSL_session_reused(ssl) != 1 ? stapledResponse : nil
        )
    }
}
