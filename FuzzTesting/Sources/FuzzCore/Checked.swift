import TLSKit

/// A connection wrapped so that every call is checked against the sans-I/O contract
/// (TLSConnection.swift): a thrown error is fatal and sticky; after it nothing but the alert
/// it caused comes out; output bytes never vanish and stay within a budget; a completed
/// handshake has connection info; reads never deliver more than asked, nor anything after
/// close_notify.
public final class Checked {
    public enum Call: String { case receive, handshake, read, write, shutdown, updateKeys }

    public let connection: any TLSConnection
    public let label: String
    /// The peer is the fuzzer, which holds no keys: the handshake must never complete.
    let peerHasNoKeys: Bool

    public private(set) var fatal: TLSError?
    private var fatalCall: Call?
    private var outputBeforeFatal = 0
    private var outputAtFatal = 0
    /// Everything drained from the connection, in order.
    public private(set) var sent: [UInt8] = []
    private var lastProduced = 0
    private var shutdownCalled = false
    private var inputEnded = false
    private var readClosed = false
    private var written = 0
    /// Plaintext read from the peer, in order.
    public private(set) var plaintext: [UInt8] = []

    /// Output may grow with what was written; the handshake and alerts need far less than this.
    static let outputBudget = 1 << 20

    public init(_ connection: any TLSConnection, label: String, peerHasNoKeys: Bool) {
        self.connection = connection
        self.label = label
        self.peerHasNoKeys = peerHasNoKeys
    }

    var produced: Int { sent.count + connection.pendingOutputByteCount }
    public var isHandshakeComplete: Bool { connection.isHandshakeComplete }
    public var hasFailed: Bool { fatal != nil }

    // MARK: calls

    public func receive(_ bytes: [UInt8]) {
        _ = perform(.receive) { () throws(TLSError) in try connection.receive(bytes) }
    }

    public func receiveEndOfInput() {
        connection.receiveEndOfInput()
        inputEnded = true
        settle(nil)
    }

    @discardableResult
    public func handshake() -> TLSHandshakeStatus? {
        let status = perform(.handshake) { () throws(TLSError) in try connection.handshake() }
        switch status {
        case .complete?:
            invariant(connection.isHandshakeComplete, "\(label): handshake() returned .complete but isHandshakeComplete is false")
            invariant(connection.connectionInfo != nil, "\(label): handshake() returned .complete without connectionInfo")
            invariant(!peerHasNoKeys, "\(label): the handshake completed against a peer that holds no keys (fuzz bytes)")
        case .outputPending?:
            invariant(connection.pendingOutputByteCount > 0, "\(label): handshake() returned .outputPending with nothing pending")
        default:
            break
        }
        return status
    }

    @discardableResult
    public func read(capacity: Int) -> TLSReadResult? {
        var buffer = [UInt8](repeating: 0, count: max(1, capacity))
        let cap = buffer.count
        let result = buffer.withUnsafeMutableBytes { raw in
            perform(.read) { () throws(TLSError) in try connection.read(into: raw) }
        }
        switch result {
        case .bytes(let n)?:
            invariant(n >= 1 && n <= cap, "\(label): read(into:) reported \(n) bytes into a buffer of \(cap)")
            invariant(!readClosed, "\(label): read(into:) delivered \(n) bytes after it had reported .closed")
            invariant(!peerHasNoKeys, "\(label): read(into:) delivered plaintext from a peer that holds no keys")
            plaintext += buffer[0..<n]
        case .closed?:
            readClosed = true
        default:
            break
        }
        return result
    }

    /// Whether the bytes were taken.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        let n = perform(.write) { () throws(TLSError) in try connection.write(bytes) }
        guard let n else { return false }
        invariant(n == bytes.count, "\(label): write(_:) consumed \(n) of \(bytes.count) bytes")
        written += n
        return true
    }

    @discardableResult
    public func shutdown() -> TLSShutdownStatus? {
        defer { shutdownCalled = true }
        return perform(.shutdown) { () throws(TLSError) in try connection.shutdown() }
    }

    public func updateKeys(requestingPeerUpdate: Bool) {
        _ = perform(.updateKeys) { () throws(TLSError) in try connection.updateKeys(requestingPeerUpdate: requestingPeerUpdate) }
    }

    /// Drains up to `maximum` bytes (all when nil); returns them.
    @discardableResult
    public func drain(maximum: Int? = nil) -> [UInt8] {
        let pending = connection.pendingOutputByteCount
        let want = min(pending, maximum ?? pending)
        guard want > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: want)
        let n = buffer.withUnsafeMutableBytes { connection.drainOutput(into: $0) }
        invariant(n >= 0 && n <= want, "\(label): drainOutput(into:) returned \(n) for a buffer of \(want)")
        invariant(n > 0, "\(label): drainOutput(into:) returned 0 with \(pending) bytes pending")
        let out = Array(buffer[0..<n])
        sent += out
        settle(nil)
        return out
    }

    // MARK: checks

    private func isUsageError(_ error: TLSError, _ call: Call) -> Bool {
        if error.code == .invalidState {
            switch call {
            case .read:
                invariant(!connection.isHandshakeComplete, "\(label): read threw invalidState after the handshake completed: \(error)")
            case .write:
                invariant(
                    !connection.isHandshakeComplete || shutdownCalled,
                    "\(label): write threw invalidState on an open connection: \(error)")
            case .receive:
                invariant(inputEnded, "\(label): receive threw invalidState before the end of input: \(error)")
            default:
                break
            }
            return true
        }
        return error.code == .closed && call == .write && shutdownCalled
    }

    private func perform<T>(_ call: Call, _ body: () throws(TLSError) -> T) -> T? {
        let before = produced
        do {
            let value = try body()
            if let fatal { invariant(false, "\(label): \(call) succeeded after the fatal error '\(fatal)' (not sticky)") }
            settle(call)
            return value
        } catch {
            if let fatal {
                invariant(
                    error.code == fatal.code && error.message == fatal.message,
                    "\(label): \(call) threw '\(error)' after the fatal error '\(fatal)' (not the same error)")
            } else if !isUsageError(error, call) {
                fatal = error
                fatalCall = call
                outputBeforeFatal = before
                outputAtFatal = produced
            }
            settle(call)
            return nil
        }
    }

    /// After every call: output bytes never vanish, never grow after a fatal error, and
    /// stay within budget.
    private func settle(_ call: Call?) {
        let now = produced
        invariant(now >= lastProduced, "\(label): \(lastProduced - now) output bytes vanished after \(call?.rawValue ?? "drain")")
        lastProduced = now
        if fatal != nil {
            invariant(
                now == outputAtFatal,
                "\(label): \(now - outputAtFatal) bytes of output after the fatal error '\(fatal!)' (by \(call?.rawValue ?? "drain"))")
        }
        invariant(
            connection.pendingOutputByteCount <= Self.outputBudget + 2 * written,
            "\(label): \(connection.pendingOutputByteCount) bytes pending after writing \(written)")
    }

    /// At the end of a run: drains everything and checks the whole output.
    public func finish() {
        drain()
        Wire.checkWellFormed(sent, label)
        guard let fatal, let fatalCall else { return }
        // What the failing call produced: perhaps the rest of a flight, then the alert.
        let tail = Array(sent[outputBeforeFatal...])
        let (records, _) = Wire.records(tail)
        let alerts = records.filter { $0.type == 21 }
        invariant(alerts.count <= 1, "\(label): \(alerts.count) alert records after the fatal error '\(fatal)'")
        if let alert = alerts.first {
            invariant(alert == records.last, "\(label): records follow the alert sent for '\(fatal)'")
        }
        if fatalCall != .handshake && fatalCall != .write, let last = records.last {
            // After the handshake the alert is the last thing sent (perhaps encrypted: type 23).
            invariant(
                (last.type == 21 || last.type == 23) && last.length <= 128,
                "\(label): the last record after the fatal error '\(fatal)' in \(fatalCall) is type \(last.type), \(last.length) bytes")
        }
    }
}
