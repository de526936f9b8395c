/// The sans-I/O TLS engine: bytes from the network go in, bytes for the network come out,
/// and plaintext is read and written through caller-owned buffers.
///
/// ```
///            receive(_:)                 read(into:)
///  network ───────────────▶ TLSConnection ───────────▶ application
///          ◀─────────────── (handshake,   ◀───────────
///           drainOutput(into:) records)    write(_:)
/// ```
///
/// **The caller's obligations**
/// - After *every* call, send what ``drainOutput(into:)`` yields until
///   ``pendingOutputByteCount`` is 0 (handshake flights, alerts, close_notify and records
///   all come out that way).
/// - When a call answers "needs input", feed the next bytes from the network with
///   ``receive(_:)`` and call again. When the transport reports end of file, call
///   ``receiveEndOfInput()`` and call again: a peer that left without close_notify is
///   reported as ``TLSError/Code/raggedEOF``.
/// - A thrown error is fatal and **sticky**: every later call throws it again, but
///   ``drainOutput(into:)`` still yields the alert that tells the peer why; send it, then
///   close the transport.
///
/// **Post-handshake messages** (TLS 1.3 NewSessionTicket and KeyUpdate, and a TLS 1.2
/// HelloRequest, which is refused) are processed by ``read(into:)``, as they arrive in front
/// of application data — compare rustls' `process_new_packets`. An application that is not
/// reading does not process them, and the peer's records wait in the engine's input. A
/// KeyUpdate that asks for ours (`update_requested`) is answered, as RFC 8446 §4.6.3 asks,
/// before our next application data: the reply comes out with the records of the next
/// ``write(_:)``. ``updateKeys(requestingPeerUpdate:)`` starts one.
///
/// Thread-safety: not thread-safe. One owner at a time; it may move between threads
/// between calls.
public protocol TLSConnection: AnyObject {
    /// Which side of the handshake this connection plays.
    var side: TLSSide { get }

    /// Copies bytes received from the network into the engine.
    ///
    /// - Throws: the sticky error, if the connection has failed; ``TLSError/Code/invalidState``
    ///   after ``receiveEndOfInput()``.
    func receive(_ bytes: UnsafeRawBufferPointer) throws(TLSError)
    /// Tells the engine that the transport has ended (the peer closed its side).
    func receiveEndOfInput()

    /// The number of bytes waiting to be sent to the peer.
    var pendingOutputByteCount: Int { get }
    /// Moves up to `buffer.count` bytes waiting for the network into `buffer`.
    ///
    /// - Returns: the number of bytes written into `buffer` (0 when nothing is pending).
    func drainOutput(into buffer: UnsafeMutableRawBufferPointer) -> Int

    /// Advances the handshake as far as the input allows.
    ///
    /// - Returns: ``TLSHandshakeStatus/complete`` once done (later calls return it at once);
    ///   ``TLSHandshakeStatus/verificationPending`` only after
    ///   ``enableAsynchronousVerification()``, while an asynchronous policy's verdict is awaited
    ///   (calling again before ``completeVerification(_:)`` returns it again and changes nothing).
    /// - Throws: a ``TLSError`` that names why the handshake failed; sticky.
    func handshake() throws(TLSError) -> TLSHandshakeStatus
    /// Opts in to suspended verification: from now on ``handshake()`` may return
    /// ``TLSHandshakeStatus/verificationPending`` instead of waiting inside the call for an
    /// asynchronous ``TLSVerificationPolicy``. Call it before the first ``handshake()``, and
    /// only from a driver that handles that status (see <doc:SansIOContract>). Without it,
    /// asynchronous policies run to completion on TLSKit's verifier thread while
    /// ``handshake()`` waits.
    ///
    /// Which handshakes suspend: GnuTLS's, on both sides (its re-entrant verify function;
    /// a server also for the returning client of a resumed session), and OpenSSL's on clients
    /// (retry-verify). An OpenSSL 3.0 server's handshake still waits inside the call: 3.0
    /// cannot suspend a server's certificate verification soundly.
    func enableAsynchronousVerification()
    /// The verification the handshake is suspended for, between a ``handshake()`` that
    /// returned ``TLSHandshakeStatus/verificationPending`` and the one after
    /// ``completeVerification(_:)``; `nil` otherwise.
    var pendingVerification: TLSPendingVerification? { get }
    /// Hands the verdict of ``pendingVerification`` to the engine; the next ``handshake()``
    /// acts on it: an acceptance lets the handshake go on, a rejection fails it with the alert
    /// for the peer and a ``TLSError/Code/certificateVerification`` error (reason
    /// ``TLSVerificationFailure/Reason/rejectedByHook``) naming the policy.
    ///
    /// - Throws: ``TLSError/Code/invalidState`` when nothing is pending, when the verdict
    ///   belongs to another verification, or when one was already given; the sticky error.
    func completeVerification(_ verdict: TLSVerificationVerdict) throws(TLSError)
    /// Whether the handshake has completed.
    var isHandshakeComplete: Bool { get }

    /// Decrypts application data into `buffer`.
    ///
    /// - Returns: ``TLSReadResult/bytes(_:)`` with the count written,
    ///   ``TLSReadResult/needsInput`` when more network bytes are needed, or
    ///   ``TLSReadResult/closed`` once the peer has sent close_notify.
    /// - Throws: ``TLSError/Code/raggedEOF`` when the input ended without close_notify,
    ///   ``TLSError/Code/invalidState`` before the handshake completed, or the sticky error.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> TLSReadResult
    /// Encrypts application data; the records come out through ``drainOutput(into:)``.
    ///
    /// - Returns: the number of bytes consumed (all of `bytes`).
    /// - Throws: ``TLSError/Code/invalidState`` before the handshake completed or after
    ///   ``shutdown()``; the sticky error.
    func write(_ bytes: UnsafeRawBufferPointer) throws(TLSError) -> Int
    /// Sends close_notify (once) and reports whether the peer's close_notify has arrived.
    ///
    /// - Returns: ``TLSShutdownStatus/complete`` when both sides have closed, or
    ///   ``TLSShutdownStatus/awaitingPeer`` when ours is sent and the peer's is pending
    ///   (feed input and call again, or just close the transport).
    func shutdown() throws(TLSError) -> TLSShutdownStatus

    /// What was negotiated; `nil` until the handshake has completed.
    var connectionInfo: TLSConnectionInfo? { get }

    /// Takes the network bytes received but not consumed by TLS: after the peer's
    /// close_notify, the cleartext that followed it (for protocols that return to
    /// cleartext, such as FTP's CCC). Empty when nothing is left over.
    func takeUnprocessedInput() -> [UInt8]

    /// TLS 1.3: sends a KeyUpdate, so new records use new keys; with
    /// `requestingPeerUpdate` the peer is asked to update its keys as well (it answers when it
    /// next reads). The record comes out through ``drainOutput(into:)``.
    ///
    /// - Throws: ``TLSError/Code/invalidState`` before the handshake completed, after
    ///   ``shutdown()``, or on a TLS 1.2 connection (which has no key updates); the sticky error.
    func updateKeys(requestingPeerUpdate: Bool) throws(TLSError)
}

/// Which side of a TLS connection.
public enum TLSSide: Hashable, Sendable, CustomStringConvertible {
    /// The side that starts the handshake.
    case client
    /// The side that accepts it.
    case server
    public var description: String { self == .client ? "client" : "server" }
}

/// Progress of ``TLSConnection/handshake()``.
public enum TLSHandshakeStatus: Hashable, Sendable {
    /// The handshake is done; drain any pending output (it may hold the final flight).
    case complete
    /// Bytes are waiting for the network: drain and send them, then call again.
    case outputPending
    /// The engine needs bytes from the peer: ``TLSConnection/receive(_:)`` them, then call
    /// again.
    case needsInput
    /// The handshake waits for an asynchronous verification policy (only after
    /// ``TLSConnection/enableAsynchronousVerification()``). Run
    /// ``TLSConnection/pendingVerification``'s ``TLSPendingVerification/evaluate()`` without
    /// blocking the driving thread, pass the verdict to
    /// ``TLSConnection/completeVerification(_:)``, then call again. Meanwhile, keep draining
    /// output and receiving input (it is buffered, not processed), and bound the wait with
    /// the handshake's deadline.
    case verificationPending
}

extension TLSConnection {
    /// Default for connections that cannot suspend verification: nothing changes, and
    /// asynchronous policies run inside ``handshake()``.
    public func enableAsynchronousVerification() {}
    /// Default: never pending.
    public var pendingVerification: TLSPendingVerification? { nil }
    /// Default: nothing is ever pending, so this throws ``TLSError/Code/invalidState``.
    public func completeVerification(_ verdict: TLSVerificationVerdict) throws(TLSError) {
        throw TLSError(.invalidState, "completeVerification(_:): this connection never suspends its handshake for verification")
    }
}

/// The result of ``TLSConnection/read(into:)``.
public enum TLSReadResult: Hashable, Sendable {
    /// This many plaintext bytes were written into the buffer (at least 1).
    case bytes(Int)
    /// No plaintext is available yet: feed more network bytes, then read again.
    case needsInput
    /// The peer sent close_notify: no more data will come. Call
    /// ``TLSConnection/shutdown()`` to answer it.
    case closed
}

/// The result of ``TLSConnection/shutdown()``.
public enum TLSShutdownStatus: Hashable, Sendable {
    /// Both close_notify alerts have been exchanged.
    case complete
    /// Our close_notify is queued; the peer's has not arrived yet.
    case awaitingPeer
}

/// What a completed handshake negotiated, and who the peer is.
///
/// Value type; `Sendable`.
public struct TLSConnectionInfo: Hashable, Sendable {
    /// The negotiated protocol version.
    public var protocolVersion: TLSProtocolVersion
    /// The negotiated cipher suite.
    public var cipherSuite: TLSCipherSuite
    /// The ALPN protocol both sides agreed on, or `nil` when none was negotiated.
    public var applicationProtocol: TLSApplicationProtocol?
    /// The server name: on the client, the one sent (DNS) or verified (IP); on the server,
    /// the SNI the client sent, if any.
    public var serverName: String?
    /// The key-exchange group used, when the backend reports it.
    public var keyExchangeGroup: TLSNamedGroup?
    /// Whether the session was resumed rather than fully negotiated.
    public var resumed: Bool
    /// The peer's certificates as presented, leaf first, DER. Empty when the peer sent
    /// none (a client without a certificate). Parse with swift-certificates:
    /// `try X509.Certificate(derEncoded: info.peerCertificates[0])`.
    public var peerCertificates: [[UInt8]]
    /// The chain as verified, leaf first and ending at the trusted root, DER. Empty when
    /// no verification took place.
    public var verifiedChain: [[UInt8]]
    /// The outcome of verifying the peer.
    public var peerVerification: TLSPeerVerification
    /// Clients: the OCSP response the server stapled (DER), once it verified; `nil` when
    /// none came or none was checked (``TLSClientConfiguration/ocspStapling`` `.ignore`,
    /// pinned keys, TLSKitInsecure), on a resumed session, and on servers.
    public var ocspResponse: [UInt8]?

    /// The peer's leaf certificate (DER), if it sent one.
    public var peerLeafCertificate: [UInt8]? { peerCertificates.first }

    /// Creates a description of a negotiated connection (for backends).
    public init(
        protocolVersion: TLSProtocolVersion,
        cipherSuite: TLSCipherSuite,
        applicationProtocol: TLSApplicationProtocol?,
        serverName: String?,
        keyExchangeGroup: TLSNamedGroup?,
        resumed: Bool,
        peerCertificates: [[UInt8]],
        verifiedChain: [[UInt8]],
        peerVerification: TLSPeerVerification,
        ocspResponse: [UInt8]? = nil
    ) {
        self.protocolVersion = protocolVersion
        self.cipherSuite = cipherSuite
        self.applicationProtocol = applicationProtocol
        self.serverName = serverName
        self.keyExchangeGroup = keyExchangeGroup
        self.resumed = resumed
        self.peerCertificates = peerCertificates
        self.verifiedChain = verifiedChain
        self.peerVerification = peerVerification
        self.ocspResponse = ocspResponse
    }
}

/// How the peer was verified.
public enum TLSPeerVerification: Hashable, Sendable, CustomStringConvertible {
    /// The peer's chain leads to a trusted root and (on the client) names the server.
    case verified
    /// The peer sent no certificate and none was required (a server that does not ask
    /// for client certificates, or `.optional` client authentication).
    case noCertificate
    /// Verification was switched off through TLSKitInsecure: nothing about the peer is known.
    case insecurelySkipped
    /// The trust store pins keys (``TLSTrustStore/pinned(keys:certificates:)``) and the
    /// peer's leaf holds one of them. No chain, name or validity period was checked: the
    /// key is the identity.
    case pinned

    public var description: String {
        switch self {
        case .verified: return "verified"
        case .noCertificate: return "no certificate"
        case .insecurelySkipped: return "NOT VERIFIED (insecure)"
        case .pinned: return "pinned key"
        }
    }
}

// MARK: - Convenience over arrays

extension TLSConnection {
    /// Copies `bytes` from the network into the engine.
    public func receive(_ bytes: [UInt8]) throws(TLSError) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(TLSError) in try receive(raw) } }
        try result.get()
    }

    /// Takes every byte waiting for the network.
    public func drainOutput() -> [UInt8] {
        let count = pendingOutputByteCount
        guard count > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: count)
        let n = out.withUnsafeMutableBytes { drainOutput(into: $0) }
        out.removeLast(count - n)
        return out
    }

    /// Encrypts `bytes` as application data.
    @discardableResult
    public func write(_ bytes: [UInt8]) throws(TLSError) -> Int {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(TLSError) in try write(raw) } }
        return try result.get()
    }

    /// Reads up to `maximumCount` plaintext bytes; `[]` when input is needed, `nil` when the
    /// peer has closed.
    public func read(maximumCount: Int = 16_384) throws(TLSError) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: maximumCount)
        let result = out.withUnsafeMutableBytes { raw in Result { () throws(TLSError) in try read(into: raw) } }
        switch try result.get() {
        case .bytes(let n):
            out.removeLast(maximumCount - n)
            return out
        case .needsInput:
            return []
        case .closed:
            return nil
        }
    }
}
