internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
import TLSKit
import TLSKitInsecure

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The GnuTLS backend's sans-I/O connection: one `gnutls_session_t` whose transport
/// functions read from and write to in-memory queues instead of a socket.
///
/// Not thread-safe: one owner at a time.
final class GnuTLSConnection: TLSConnection, TLSQueueStorageReporting, TLSBufferLending {
    let side: TLSSide
    let state: GnuTLSContextState
    private let owner: AnyObject  // keeps the context alive
    /// Servers: the context (for its certificate resolver), the chains it presented when
    /// this connection was made, and what the resolver chose.
    let server: GnuTLSServerContext?
    let chains: GnuTLSServerChains?
    /// Every credentials object the resolver gave this session (a HelloRetryRequest asks
    /// twice), kept until the session is freed.
    var resolvedCredentials: [GnuTLSCredentials] = []
    @TLSIndirect var resolverFailure: TLSError?
    /// Servers with a resolver: the ClientHello's signature schemes and ALPN offer.
    var offeredSchemes: [TLSSignatureScheme] = []
    var offeredProtocols: [TLSApplicationProtocol] = []
    /// Clients: the stapled OCSP response, once it verified.
    var verifiedStaple: [UInt8]?
    let serverName: TLSServerName?
    private(set) var session: gnutls_session_t!

    var input = ByteQueue()
    var output = ByteQueue()
    /// A loan of input (withLentInput): bytes the engine reads after `input`, where they lie.
    /// Plain fields, not in ByteQueue: the three queues would each carry them (0.3 KB more per
    /// idle connection was measured that way).
    private var lentInput: UnsafeRawPointer?
    private var lentInputCount = 0
    /// A loan of output space (withLentOutput): records land there while `output` is empty.
    private var lentSpace: UnsafeMutableRawPointer?
    private var lentSpaceCapacity = 0
    private var lentSpaceUsed = 0
    /// Application data that shutdown() took from GnuTLS while looking for the peer's
    /// close_notify; read(into:) hands it out first, so nothing the peer sent before its
    /// close_notify is lost (as with OpenSSL, which leaves it to SSL_read).
    private var heldPlaintext = ByteQueue()
    /// Set when shutdown() had to drop application data (more than `heldLimit`): read(into:)
    /// then delivers no more data, only the peer's close_notify, so what was read stays a
    /// prefix of what the peer sent.
    private var droppedAfterShutdown = false
    private static let heldLimit = 65_536
    /// Set by the verification callback when it rejects the peer.
    @TLSIndirect var verificationFailure: TLSVerificationFailure?
    /// What is known about the peer: from this handshake's verification, or, on a
    /// resumption, from the full handshake the session comes from.
    @TLSIndirect var authentication: TLSSessionAuthentication?
    /// The first bytes the peer sent, to recognise a plain-text protocol in error messages.
    private var firstBytes: [UInt8] = []

    /// The contract's state: sticky error, handshake done, input ended, close sent.
    private(set) var contract = TLSConnectionState()
    private var peerClosed = false
    private var info: TLSConnectionInfo?
    /// Asynchronous policies: whether the driver opted in, and what the handshake waits for.
    var suspension = TLSVerificationSuspension()
    /// Clients: the ticket taken from the cache, not yet offered: the policies are asked
    /// about it when the handshake starts (they may be asynchronous).
    @TLSIndirect private var resumptionCandidate: (ticket: GnuTLSSessionTicket, authentication: TLSSessionAuthentication)?
    /// Servers: GnuTLS resumed a session and the returning client's check has not passed
    /// yet (an asynchronous policy may be awaited): the handshake is not complete.
    private var resumedClientCheckPending = false

    init(
        state: GnuTLSContextState, owner: AnyObject, serverName: TLSServerName?, server: GnuTLSServerContext? = nil,
        chains: GnuTLSServerChains? = nil
    ) throws(TLSError) {
        self.side = state.side
        self.state = state
        self.owner = owner
        self.server = server
        self.chains = chains
        self.serverName = serverName
        var made: gnutls_session_t?
        let flags =
            (side == .client ? CTLSKitGnuTLSShims_GNUTLS_CLIENT() : CTLSKitGnuTLSShims_GNUTLS_SERVER())
            | CTLSKitGnuTLSShims_GNUTLS_NONBLOCK() | CTLSKitGnuTLSShims_GNUTLS_NO_SIGNAL()
            // Servers send TLS 1.3 tickets themselves, after full handshakes only, so a
            // resumed session never gets a ticket that outlives its original verification.
            | (state.side == .server ? UInt32(GNUTLS_NO_AUTO_SEND_TICKET.rawValue) : 0)
        let status = gnutls_init(&made, flags)
        guard status == GNUTLS_E_SUCCESS, let made else { throw GnuTLSFailure.internalError("gnutls_init", status) }
        session = made
        try configure()
    }

    deinit { gnutls_deinit(session) }

    private func configure() throws(TLSError) {
        var status = gnutls_priority_set(session, state.priority)
        guard status == GNUTLS_E_SUCCESS else { throw GnuTLSFailure.internalError("gnutls_priority_set", status) }
        let credentials = chains?.entries[0].credentials ?? state.credentials
        status = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, UnsafeMutableRawPointer(credentials.pointer))
        guard status == GNUTLS_E_SUCCESS else { throw GnuTLSFailure.internalError("gnutls_credentials_set", status) }

        let me = Unmanaged.passUnretained(self).toOpaque()
        gnutls_session_set_ptr(session, me)
        gnutls_transport_set_ptr(session, me)
        gnutls_transport_set_push_function(session, pushCallback)
        gnutls_transport_set_pull_function(session, pullCallback)
        gnutls_transport_set_pull_timeout_function(session, pullTimeoutCallback)
        gnutls_handshake_set_timeout(session, 0)
        gnutls_session_set_verify_function(session, verifyCallback)
        if state.keyLog != nil { gnutls_session_set_keylog_function(session, keyLogCallback) }

        switch side {
        case .client:
            if state.ocspStapling != .ignore {
                status = gnutls_ocsp_status_request_enable_client(session, nil, 0, nil)
                guard status == GNUTLS_E_SUCCESS else { throw GnuTLSFailure.internalError("gnutls_ocsp_status_request_enable_client", status) }
            }
            if let name = serverName?.dnsName {
                status = gnutls_server_name_set(session, GNUTLS_NAME_DNS, name, name.utf8.count)
                guard status == GNUTLS_E_SUCCESS else {
                    throw TLSError(.configuration, "GnuTLS refused the server name '\(name)'", feature: "serverName")
                }
            }
        case .server:
            switch state.clientAuthentication {
            case .none: gnutls_certificate_server_set_request(session, GNUTLS_CERT_IGNORE)
            case .optional: gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST)
            case .required: gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE)
            }
            // Do not send CA names: clients then present their certificate whatever its
            // issuer, as with the OpenSSL backend, and the server reports why it failed.
            gnutls_certificate_send_x509_rdn_sequence(session, 1)
            if server?.resolver != nil {
                // The resolver is told the offered schemes and ALPN, read from the raw
                // ClientHello before GnuTLS processes it.
                gnutls_handshake_set_hook_function(
                    session, UInt32(GNUTLS_HANDSHAKE_CLIENT_HELLO.rawValue), Int32(GNUTLS_HOOK_PRE), clientHelloHook)
            }
            if (chains?.entries.count ?? 0) > 1 || server?.resolver != nil {
                gnutls_handshake_set_post_client_hello_function(session, clientHelloCallback)
            }
        }

        if side == .server {
            var key = state.ticketKey
            status = gnutls_session_ticket_enable_server(session, &key)
            // GnuTLS derives rotating ticket keys from the master key; tickets live this long.
            gnutls_db_set_cache_expiration(session, Int32(clamping: state.ticketLifetimeSeconds))
            guard status == GNUTLS_E_SUCCESS else { throw GnuTLSFailure.internalError("gnutls_session_ticket_enable_server", status) }
        } else if let sessions = state.sessions, let name = serverName?.description {
            // Offer a ticket only while the server may be trusted without seeing its
            // certificate again: young enough and its certificate still valid here; whether
            // the policies agree is asked when the handshake starts (see resolveResumption).
            if let (ticket, remembered) = sessions.takeResumable(
                for: name, maximumAge: state.maximumResumptionAge, verificationTime: nil, checks: nil)
            {
                resumptionCandidate = (ticket, remembered)
            }
            // TLS 1.3 tickets arrive after the handshake: keep each one as it comes.
            gnutls_handshake_set_hook_function(
                session, UInt32(GNUTLS_HANDSHAKE_NEW_SESSION_TICKET.rawValue), Int32(GNUTLS_HOOK_POST), ticketHook)
        }

        if !state.alpn.isEmpty {
            var datums = state.alpn.map { gnutls_datum_t(data: $0.baseAddress, size: UInt32($0.count)) }
            let flags: UInt32 =
                side == .server ? UInt32(GNUTLS_ALPN_SERVER_PRECEDENCE.rawValue | GNUTLS_ALPN_MANDATORY.rawValue) : 0
            status = gnutls_alpn_set_protocols(session, &datums, UInt32(datums.count), flags)
            guard status == GNUTLS_E_SUCCESS else { throw GnuTLSFailure.internalError("gnutls_alpn_set_protocols", status) }
        }
    }

    // MARK: Network side

    func receive(_ bytes: UnsafeRawBufferPointer) throws(TLSError) {
        try contract.checkReceive()
        if firstBytes.count < 8 { firstBytes += bytes.prefix(8 - firstBytes.count) }
        settleLentInput()  // new bytes come after the lent ones
        input.append(bytes)
    }

    func withLentInput(_ bytes: UnsafeRawBufferPointer, _ body: () -> Void) throws(TLSError) {
        try contract.checkReceive()
        if firstBytes.count < 8 { firstBytes += bytes.prefix(8 - firstBytes.count) }
        settleLentInput()  // an earlier loan's rest comes first
        lentInput = bytes.baseAddress
        lentInputCount = bytes.baseAddress == nil ? 0 : bytes.count
        body()
        settleLentInput()
    }

    func withLentOutput(_ buffer: UnsafeMutableRawBufferPointer, _ body: () -> Void) -> Int {
        guard lentSpace == nil, let base = buffer.baseAddress else {
            body()
            return 0
        }
        lentSpace = base
        lentSpaceCapacity = buffer.count
        lentSpaceUsed = 0
        body()
        defer {
            lentSpace = nil
            lentSpaceCapacity = 0
            lentSpaceUsed = 0
        }
        return lentSpaceUsed
    }

    /// Received bytes the engine has not read: queued, then lent.
    var pendingInputCount: Int { input.count + lentInputCount }

    /// Ends an input loan: what the engine did not read is queued.
    private func settleLentInput() {
        if let lentInput, lentInputCount > 0 { input.append(UnsafeRawBufferPointer(start: lentInput, count: lentInputCount)) }
        lentInput = nil
        lentInputCount = 0
    }

    /// GnuTLS's pull: up to `maximum` bytes, from the queue, then from the loan.
    func pullInput(into destination: UnsafeMutableRawPointer, maximum: Int) -> Int {
        var n = input.read(into: destination, maximum: maximum)
        if n < maximum, let lent = lentInput, lentInputCount > 0 {
            let m = min(maximum - n, lentInputCount)
            _ = memcpy(destination + n, lent, m)
            lentInput = lent + m
            lentInputCount -= m
            n += m
        }
        return n
    }

    /// GnuTLS's push: into the lent space while nothing is queued, the rest queued after it.
    func pushOutput(_ bytes: UnsafeRawBufferPointer) {
        var bytes = bytes
        if let space = lentSpace, output.count == 0, lentSpaceUsed < lentSpaceCapacity, let base = bytes.baseAddress {
            let n = min(bytes.count, lentSpaceCapacity - lentSpaceUsed)
            _ = memcpy(space + lentSpaceUsed, base, n)
            lentSpaceUsed += n
            bytes = UnsafeRawBufferPointer(rebasing: bytes[n...])
        }
        output.append(bytes)
    }

    func receiveEndOfInput() { _ = contract.markInputEnded() }

    var pendingOutputByteCount: Int { output.count }

    func drainOutput(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        return output.read(into: base, maximum: buffer.count)
    }

    // MARK: Handshake

    var isHandshakeComplete: Bool { contract.handshakeDone }

    func handshake() throws(TLSError) -> TLSHandshakeStatus {
        try contract.checkUsable()
        if contract.handshakeDone { return .complete }
        if suspension.isWaiting { return .verificationPending }
        if resumptionCandidate != nil, !resolveResumption() { return .verificationPending }
        if resumedClientCheckPending { return try finishResumedServer() }
        var rounds = 0
        while true {
            rounds += 1
            let status = gnutls_handshake(session)
            if suspension.isWaiting {
                // The verify function asked to suspend; GnuTLS calls it again on the next
                // gnutls_handshake. Anything but "again" would go on without the verdict.
                guard status == GNUTLS_E_AGAIN else {
                    throw contract.fail(
                        TLSError(.internal, "GnuTLS did not suspend the handshake for an asynchronous verification policy; the handshake is refused"))
                }
                return .verificationPending
            }
            if status == GNUTLS_E_SUCCESS {
                let resumed = gnutls_session_is_resumed(session) != 0
                if side == .server, resumed {
                    resumedClientCheckPending = true
                    return try finishResumedServer()
                }
                return finishHandshake(resumed: resumed)
            }
            if status == GNUTLS_E_AGAIN || status == GNUTLS_E_INTERRUPTED {
                // GnuTLS may stop after one message with more records still queued.
                if pendingInputCount > 0 && rounds < 1000 { continue }
                return output.count > 0 ? .outputPending : .needsInput
            }
            if gnutls_error_is_fatal(status) == 0 { continue }  // e.g. a warning alert
            throw fail(status, phase: .handshake)
        }
    }

    /// Servers, a resumption GnuTLS completed: the returning client is checked (its
    /// remembered certificate and the policies, which may be asynchronous) before the
    /// handshake is reported complete; a refusal sends an alert and fails it.
    private func finishResumedServer() throws(TLSError) -> TLSHandshakeStatus {
        switch recheckResumedClient() {
        case .pending:
            return .verificationPending
        case .rejected(let refusal):
            // The ticket was good but the client may no longer be trusted: refuse.
            resumedClientCheckPending = false
            _ = gnutls_alert_send(session, GNUTLS_AL_FATAL, GNUTLS_A_CERTIFICATE_UNKNOWN)
            throw contract.fail(.verificationRejected(refusal, peer: "client", backendErrors: []))
        case .accepted:
            resumedClientCheckPending = false
            return finishHandshake(resumed: true)
        }
    }

    /// GnuTLS's handshake succeeded and every check passed: the connection is established.
    private func finishHandshake(resumed: Bool) -> TLSHandshakeStatus {
        contract.markHandshakeDone()
        info = makeInfo()
        if info?.protocolVersion != .tls1_3 { keepSession() }  // TLS 1.2: the ticket came in the handshake
        if side == .server, !resumed, info?.protocolVersion == .tls1_3, state.sessionTicketCount > 0 {
            _ = gnutls_session_ticket_send(session, state.sessionTicketCount, 0)
        }
        return .complete
    }

    func enableAsynchronousVerification() { suspension.enabled = true }

    var pendingVerification: TLSPendingVerification? { suspension.isWaiting ? suspension.pending : nil }

    func completeVerification(_ verdict: TLSVerificationVerdict) throws(TLSError) {
        try contract.checkUsable()
        try suspension.complete(verdict)
    }

    /// Clients, before the first flight: asks the policies whether the remembered session
    /// may be offered; an accepted ticket is given to GnuTLS, a refused one dropped (the
    /// handshake is then a full one). Returns `false` while an asynchronous policy's verdict
    /// is awaited.
    private func resolveResumption() -> Bool {
        guard let (ticket, remembered) = resumptionCandidate else { return true }
        if let checks = state.checks, let request = remembered.resumptionRequest(side: .client, serverName: serverName?.description) {
            switch suspension.run(checks, request, suspend: { true }) {
            case .pending: return false
            case .rejected:
                resumptionCandidate = nil
                return true
            case .accepted: break
            }
        }
        resumptionCandidate = nil
        ticket.data.withUnsafeBytes { raw in _ = gnutls_session_set_data(session, raw.baseAddress, raw.count) }
        authentication = remembered
        return true
    }

    // MARK: Application data

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> TLSReadResult {
        let base = try contract.checkRead(buffer)
        if heldPlaintext.count > 0 { return .bytes(heldPlaintext.read(into: base, maximum: buffer.count)) }
        if peerClosed { return .closed }
        if droppedAfterShutdown { return try shutdown() == .complete ? .closed : .needsInput }
        var rounds = 0
        while true {
            rounds += 1
            let n = gnutls_record_recv(session, base, buffer.count)
            if n > 0 { return .bytes(n) }
            if n == 0 {
                peerClosed = true
                return .closed
            }
            let status = Int32(n)
            if status == GNUTLS_E_AGAIN || status == GNUTLS_E_INTERRUPTED {
                // After a post-handshake message (a session ticket) GnuTLS answers "again"
                // even when more records are queued: keep going while we hold input.
                if pendingInputCount > 0 && rounds < 1000 { continue }
                return .needsInput
            }
            if status == GNUTLS_E_REHANDSHAKE {
                // TLSKit never renegotiates: say so and carry on.
                _ = gnutls_alert_send(session, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION)
                continue
            }
            if gnutls_error_is_fatal(status) == 0 { continue }
            throw fail(status, phase: .read)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(TLSError) -> Int {
        try contract.checkWrite()
        guard let base = bytes.baseAddress else { return 0 }
        var written = 0
        while written < bytes.count {
            let n = gnutls_record_send(session, base + written, bytes.count - written)
            if n > 0 {
                written += n
                continue
            }
            let status = Int32(n)
            if status == GNUTLS_E_AGAIN || status == GNUTLS_E_INTERRUPTED { continue }
            throw fail(status, phase: .write)
        }
        return written
    }

    func shutdown() throws(TLSError) -> TLSShutdownStatus {
        try contract.checkUsable()
        guard contract.handshakeDone else {
            contract.markCloseSent()
            return .complete
        }
        if !contract.closeSent {
            contract.markCloseSent()
            let status = gnutls_bye(session, GNUTLS_SHUT_WR)
            if status < 0 && gnutls_error_is_fatal(status) != 0 { throw fail(status, phase: .shutdown) }
        }
        if peerClosed { return .complete }
        var scratch = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = scratch.withUnsafeMutableBytes { gnutls_record_recv(session, $0.baseAddress, $0.count) }
            if n > 0 {
                // Keep it for read(into:): dropping it left a hole in the stream when the
                // application read again after shutdown() (found by the gnutls-session fuzz target).
                if !droppedAfterShutdown, heldPlaintext.count + n <= Self.heldLimit {
                    scratch.withUnsafeBytes { heldPlaintext.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                } else {
                    droppedAfterShutdown = true  // bounded memory: from here on, data is dropped
                }
                continue
            }
            if n == 0 {
                peerClosed = true
                return .complete
            }
            let status = Int32(n)
            if status == GNUTLS_E_AGAIN || status == GNUTLS_E_INTERRUPTED { return .awaitingPeer }
            if gnutls_error_is_fatal(status) == 0 { continue }
            throw fail(status, phase: .shutdown)
        }
    }

    var connectionInfo: TLSConnectionInfo? { info }

    var queueStorageByteCount: Int { input.capacity + output.capacity + heldPlaintext.capacity }

    func updateKeys(requestingPeerUpdate: Bool) throws(TLSError) {
        try contract.checkKeyUpdate(isTLS13: info?.protocolVersion == .tls1_3)
        // GnuTLS answers a peer's update_requested inside gnutls_record_recv by itself.
        let status = gnutls_session_key_update(session, requestingPeerUpdate ? UInt32(GNUTLS_KU_PEER) : 0)
        if status < 0 && status != GNUTLS_E_AGAIN { throw fail(status, phase: .write) }
    }

    func takeUnprocessedInput() -> [UInt8] {
        settleLentInput()
        var bytes = [UInt8](repeating: 0, count: input.count)
        let n = bytes.withUnsafeMutableBytes { input.read(into: $0.baseAddress!, maximum: $0.count) }
        return Array(bytes.prefix(n))
    }

    // MARK: Helpers

    private func fail(_ status: Int32, phase: GnuTLSFailure.Phase) -> TLSError {
        var alert: TLSAlert?
        if status == GNUTLS_E_FATAL_ALERT_RECEIVED || status == GNUTLS_E_WARNING_ALERT_RECEIVED {
            alert = TLSAlert(rawValue: UInt8(truncatingIfNeeded: gnutls_alert_get(session).rawValue))
        } else if phase == .handshake || phase == .read {
            // Tell the peer why, as OpenSSL does on its own.
            _ = gnutls_alert_send_appropriate(session, status)
        }
        if let resolverFailure { return contract.fail(resolverFailure) }
        let error = GnuTLSFailure.make(
            status: status, phase: phase, side: side, receivedAlert: alert,
            verification: verificationFailure, inputEnded: contract.inputEnded, firstBytes: firstBytes)
        return contract.fail(error)
    }

    // MARK: Verification (called by GnuTLS during the handshake)

    /// Stores this session's resumption data in the client context's cache.
    func keepSession() {
        guard let sessions = state.sessions, let name = serverName?.description, let authentication else { return }
        var data = gnutls_datum_t()
        guard gnutls_session_get_data2(session, &data) == GNUTLS_E_SUCCESS, let bytes = data.data else { return }
        defer {
            explicit_bzero(bytes, Int(data.size))
            CTLSKitGnuTLSShims_gnutls_free(bytes)
        }
        sessions.store(
            GnuTLSSessionTicket(TLSSecureBytes(UnsafeBufferPointer(start: bytes, count: Int(data.size)))),
            authentication: authentication, for: name)
    }

    /// Called by GnuTLS with each new secret (TLSKitInsecure key log): one NSS line.
    func logKey(label: String, secret: gnutls_datum_t) {
        guard let keyLog = state.keyLog, let data = secret.data else { return }
        var client = gnutls_datum_t()
        var server = gnutls_datum_t()
        gnutls_session_get_random(session, &client, &server)
        guard let random = client.data else { return }
        func hex(_ pointer: UnsafeMutablePointer<UInt8>, _ count: UInt32) -> String {
            UnsafeBufferPointer(start: pointer, count: Int(count)).map { byte in
                let digits = String(byte, radix: 16)
                return digits.count == 1 ? "0" + digits : digits
            }.joined()
        }
        keyLog("\(label) \(hex(random, client.size)) \(hex(data, secret.size))")
    }

    func peerName() -> String? {
        if side == .client { return serverName?.description }
        var buffer = [UInt8](repeating: 0, count: 256)
        var size = buffer.count
        var type: UInt32 = 0
        guard gnutls_server_name_get(session, &buffer, &size, &type, 0) == GNUTLS_E_SUCCESS else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    func alpn() -> TLSApplicationProtocol? {
        var selected = gnutls_datum_t()
        guard gnutls_alpn_get_selected_protocol(session, &selected) == GNUTLS_E_SUCCESS, let data = selected.data else { return nil }
        return TLSApplicationProtocol(bytes: Array(UnsafeBufferPointer(start: data, count: Int(selected.size))))
    }

    /// A list of certificates GnuTLS lends (the peer's), copied as DER.
    static func certificates(_ list: UnsafePointer<gnutls_datum_t>?, _ count: UInt32) -> [[UInt8]] {
        guard let list else { return [] }
        return (0..<Int(count)).compactMap { i in list[i].data.map { Array(UnsafeBufferPointer(start: $0, count: Int(list[i].size))) } }
    }
}
