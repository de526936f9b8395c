import Dispatch
public import TLSKit

#if canImport(Glibc)
import Glibc
#endif

/// An async/await TLS connection for any backend, built on ``TLSSocket``.
///
/// Each stream does its blocking socket work on its own serial dispatch queue (never on
/// Swift's cooperative threads), so `await`ing a read does not hold up other tasks.
/// Cancelling a task that is waiting in ``read(maximumCount:)``, ``write(_:)-([UInt8])`` or the
/// handshake closes the connection and releases its file descriptor; the call throws
/// `CancellationError`.
///
/// Thread-safety: `Sendable`; calls are serialised on the stream's queue. For thousands of
/// connections use the SwiftNIO adapter instead (one thread per waiting operation here).
public final class TLSStream: Sendable {
    private let queue: DispatchQueue
    private let state: State

    private final class State: @unchecked Sendable {
        // @unchecked: `socket` is used only on the stream's queue; `descriptor` and
        // `cancelled` are behind the mutex (read from cancellation handlers).
        var socket: TLSSocket?
        let mutex = TLSMutex()
        var descriptor: Int32 = -1
        var cancelled = false
        /// The handshake completed (set once, behind the mutex): reads and writes no longer
        /// go through ``TLSStream/handshake()`` first.
        var handshakeDone = false

        /// Closes the socket with the descriptor forgotten under the mutex first, so a
        /// cancellation handler can never shut down the number after it was closed (and
        /// perhaps reused by another open in this process).
        func close(_ socket: TLSSocket) {
            mutex.withLock {
                descriptor = -1
                socket.close()
            }
        }
    }

    private init(socket: TLSSocket, queue: DispatchQueue) {
        self.queue = queue
        state = State()
        state.socket = socket
        state.descriptor = socket.fileDescriptor
    }

    /// Connects and completes the handshake.
    ///
    /// - Parameters: as ``TLSSocket/connect(host:port:context:serverName:timeout:beforeHandshake:)``.
    public static func connect(
        host: String, port: UInt16, context: any TLSClientContext, serverName: TLSServerName? = nil,
        timeout: Duration? = .seconds(30)
    ) async throws -> TLSStream {
        let name: TLSServerName
        if let serverName { name = serverName } else { name = try TLSServerName(host) }
        // The stream's own serial queue runs the blocking connect too. Never the global
        // concurrent queue: its few worker threads are shared by the whole process, and a
        // blocked connect there can wait behind other blocking work for seconds.
        let queue = Self.makeQueue("\(host):\(port)")
        let fd = try await onQueue(queue) { () throws(TLSError) in try TLSSocket.openTCP(host: host, port: port, timeout: timeout) }
        let connection: any TLSConnection
        do { connection = try context.makeConnection(serverName: name) } catch {
            Glibc.close(fd)  // not yet owned by a socket
            throw error
        }
        let stream = TLSStream(
            socket: TLSSocket(fileDescriptor: fd, connection: connection, timeout: timeout, peerAddress: "\(host):\(port)"), queue: queue)
        try await stream.handshake()
        return stream
    }

    /// Wraps an accepted or already-connected socket (its handshake runs on first use, or
    /// now with ``handshake()``).
    public convenience init(_ socket: TLSSocket) {
        self.init(socket: socket, queue: Self.makeQueue(socket.peerAddress ?? "socket"))
    }

    /// Runs the handshake (returns at once if it is done).
    ///
    /// An asynchronous verification policy runs as a task while the handshake is suspended:
    /// no thread waits for it (clients; servers on backends that suspend server handshakes,
    /// GnuTLS — an OpenSSL 3.0 server decides on TLSKit's verifier thread while the stream's
    /// queue waits). An accepted stream runs this on its first read or write. The socket's time-out bounds the whole handshake,
    /// the wait included: a policy that has not answered by then fails the handshake with
    /// `TLSError.Code.timeout` (the peer gets an alert). Cancelling the calling task
    /// meanwhile closes the stream; the policy's task is cancelled and its result ignored.
    public func handshake() async throws {
        let deadline = try await perform { socket throws(TLSError) in socket.handshakeDeadline() }
        while let pending = try await perform({ socket throws(TLSError) in try socket.handshakeUntilVerification(deadline) }) {
            let verdict: TLSVerificationVerdict?
            do { verdict = try await Self.evaluate(pending, until: deadline.end) } catch {
                await close()  // cancelled: the stream is closed, as for any cancelled call
                throw error
            }
            try await perform { socket throws(TLSError) in
                guard let verdict else { throw socket.refuseUnansweredVerification(pending, deadline) }
                try socket.connection.completeVerification(verdict)
            }
        }
        state.mutex.withLock { state.handshakeDone = true }
    }

    /// Runs the handshake before the first read or write, so that an accepted stream's
    /// handshake suspends for asynchronous policies too (instead of running inside the
    /// blocking call).
    private func handshakeIfNeeded() async throws {
        if state.mutex.withLock({ state.handshakeDone }) { return }
        try await handshake()
    }

    /// Runs `pending` in a task of its own, until `end` at most (`nil`: the deadline passed)
    /// or until the calling task is cancelled (throws `CancellationError`). The policy's task
    /// is cancelled either way, and a verdict that comes later is ignored: nothing waits for a
    /// policy that does not honour cancellation.
    static func evaluate(_ pending: TLSPendingVerification, until end: ContinuousClock.Instant?) async throws
        -> TLSVerificationVerdict?
    {
        let race = VerdictRace()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<TLSVerificationVerdict?, any Error>) in
                race.start(continuation)
                race.add(Task { race.finish(.success(await pending.evaluate())) })
                if let end {
                    race.add(
                        Task {
                            try? await Task.sleep(until: end, clock: .continuous)
                            race.finish(.success(nil))
                        })
                }
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }

    /// The first of verdict, deadline and cancellation resumes the waiting task; the others
    /// are cancelled or ignored.
    private final class VerdictRace: @unchecked Sendable {
        // @unchecked: every field is only touched under `mutex`.
        private let mutex = TLSMutex()
        private var continuation: CheckedContinuation<TLSVerificationVerdict?, any Error>?
        private var outcome: Result<TLSVerificationVerdict?, any Error>?
        private var tasks: [Task<Void, Never>] = []

        func start(_ waiting: CheckedContinuation<TLSVerificationVerdict?, any Error>) {
            let early = mutex.withLock { () -> Result<TLSVerificationVerdict?, any Error>? in
                if outcome == nil { continuation = waiting }
                return outcome
            }
            if let early { waiting.resume(with: early) }
        }

        func add(_ task: Task<Void, Never>) {
            let finished = mutex.withLock { () -> Bool in
                if outcome == nil { tasks.append(task) }
                return outcome != nil
            }
            if finished { task.cancel() }
        }

        func finish(_ result: Result<TLSVerificationVerdict?, any Error>) {
            let (waiting, others) = mutex.withLock { () -> (CheckedContinuation<TLSVerificationVerdict?, any Error>?, [Task<Void, Never>]) in
                guard outcome == nil else { return (nil, []) }
                outcome = result
                defer {
                    continuation = nil
                    tasks = []
                }
                return (continuation, tasks)
            }
            for task in others { task.cancel() }
            waiting?.resume(with: result)
        }
    }

    /// What the handshake negotiated.
    public var connectionInfo: TLSConnectionInfo? {
        get async { try? await perform { socket throws(TLSError) in socket.connectionInfo } }
    }

    /// Reads up to `maximumCount` bytes; `nil` once the peer has closed cleanly.
    public func read(maximumCount: Int = 65_536) async throws -> [UInt8]? {
        try await handshakeIfNeeded()
        return try await perform { socket throws(TLSError) in try socket.receive(maximumCount: maximumCount) }
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: [UInt8]) async throws {
        try await handshakeIfNeeded()
        try await perform { socket throws(TLSError) in try socket.send(bytes) }
    }

    /// Writes a string's UTF-8 bytes.
    public func write(_ text: String) async throws { try await write(Array(text.utf8)) }

    /// Sends close_notify (without waiting for the peer's) and closes the socket.
    public func close() async {
        let state = self.state
        _ = try? await perform { socket throws(TLSError) in
            try? socket.shutdown(waitForPeer: false)
            state.close(socket)
        }
    }

    /// Whether the stream's file descriptor has been released.
    public var isClosed: Bool { state.mutex.withLock { state.descriptor < 0 } }

    // MARK: - Plumbing

    /// Runs `body` on the stream's queue; cancellation shuts the socket down, which wakes
    /// the blocked call, and the socket is then closed.
    private func perform<R: Sendable>(_ body: @escaping @Sendable (TLSSocket) throws(TLSError) -> R) async throws -> R {
        let state = self.state
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
                queue.async {
                    guard let socket = state.socket, socket.fileDescriptor >= 0 else {
                        continuation.resume(throwing: TLSError(.closed, "the stream is closed"))
                        return
                    }
                    if state.mutex.withLock({ state.cancelled }) {
                        state.close(socket)
                        continuation.resume(throwing: CancellationError())
                        return
                    }
                    do {
                        let value = try body(socket)
                        if socket.fileDescriptor < 0 { state.mutex.withLock { state.descriptor = -1 } }
                        continuation.resume(returning: value)
                    } catch {
                        let cancelled = state.mutex.withLock { state.cancelled }
                        if cancelled { state.close(socket) }
                        continuation.resume(throwing: cancelled ? CancellationError() : error)
                    }
                }
            }
        } onCancel: {
            // Under the mutex: the descriptor cannot be closed (and its number reused) between
            // reading it and shutting it down. shutdown(2) does not block.
            state.mutex.withLock {
                state.cancelled = true
                if state.descriptor >= 0 { _ = Glibc.shutdown(state.descriptor, Int32(SHUT_RDWR)) }  // wakes a blocked recv/send
            }
        }
    }

    /// A serial queue for one stream's blocking calls. Serial queues a program creates get a
    /// thread of their own when they have work (unlike `DispatchQueue.global()`, whose pool
    /// is sized for work that does not block).
    static func makeQueue(_ label: String) -> DispatchQueue {
        DispatchQueue(label: "tlskit.stream.\(label)")
    }

    static func onQueue<R: Sendable>(_ queue: DispatchQueue, _ body: @escaping @Sendable () throws(TLSError) -> R) async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}

/// Accepts TLS connections as ``TLSStream``s: `for try await stream in listener.connections`.
///
/// Thread-safety: `Sendable`.
public final class TLSStreamListener: Sendable {
    private let listener: TLSListener
    /// Blocking accepts run here, one at a time, on a thread of their own.
    private let acceptQueue: DispatchQueue

    /// Listens on `host:port` (port 0: any free port).
    public init(host: String, port: UInt16, context: any TLSServerContext) throws(TLSError) {
        listener = try TLSListener(host: host, port: port, context: context)
        acceptQueue = DispatchQueue(label: "tlskit.stream-listener.\(listener.port)")
    }

    /// The port actually bound.
    public var port: UInt16 { listener.port }

    /// Waits for the next connection (its handshake runs on first use).
    public func accept() async throws -> TLSStream {
        let listener = self.listener
        let box = try await TLSStream.onQueue(acceptQueue) { () throws(TLSError) in SocketBox(try listener.accept()) }
        return TLSStream(box.socket)
    }

    /// The accepted connections, until the listener is closed.
    public var connections: AsyncThrowingStream<TLSStream, any Error> {
        AsyncThrowingStream {
            do { return try await self.accept() } catch let error as TLSError where error.code == .closed { return nil }
        }
    }

    /// Stops listening; a waiting ``accept()`` throws.
    public func close() { listener.close() }

    private final class SocketBox: @unchecked Sendable {
        // @unchecked: handed from the accepting thread to the stream, then not touched.
        let socket: TLSSocket
        init(_ socket: TLSSocket) { self.socket = socket }
    }
}
