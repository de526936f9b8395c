#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A handshake suspended for asynchronous verification policies: what the driver runs, and
/// what it hands back to ``TLSConnection/completeVerification(_:)``.
///
/// ``TLSConnection/handshake()`` returns ``TLSHandshakeStatus/verificationPending`` and
/// ``TLSConnection/pendingVerification`` holds this. Run ``evaluate()`` (it never blocks a
/// thread while it waits), then pass its verdict to the connection and call
/// ``TLSConnection/handshake()`` again.
///
/// Value type; `Sendable`: run it on any task or thread.
public struct TLSPendingVerification: Sendable {
    /// What the policies are asked (``TLSPeerVerificationRequest/resumed`` is `true` when a
    /// client asks whether to offer a remembered session).
    public let request: TLSPeerVerificationRequest
    /// The names of the policies still to run, in order.
    public let policyNames: [String]
    /// Ties a verdict to this verification, so a verdict for another one is refused.
    package let id: UInt64
    private let checks: TLSPeerChecks
    private let start: Int

    package init(request: TLSPeerVerificationRequest, checks: TLSPeerChecks, from start: Int, id: UInt64) {
        self.request = request
        self.checks = checks
        self.start = start
        self.id = id
        self.policyNames = checks.names(from: start)
    }

    /// Runs the policies still to run, in order, awaiting the asynchronous ones; the first
    /// rejection wins, and its text names the policy. Cancelling the task rejects.
    public func evaluate() async -> TLSVerificationVerdict {
        TLSVerificationVerdict(id: id, failure: await checks.evaluate(request, from: start))
    }

    /// A rejection of this verification made by the driver itself (it gave up waiting, for
    /// example); the text is part of the error, and the peer gets an alert.
    public func rejected(_ reason: String) -> TLSVerificationVerdict {
        TLSVerificationVerdict(
            id: id,
            failure: TLSPeerChecks.failure(policyNames.first ?? "verification", reason, request))
    }
}

/// The outcome of a ``TLSPendingVerification``, for ``TLSConnection/completeVerification(_:)``.
///
/// Value type; `Sendable`.
public struct TLSVerificationVerdict: Sendable, CustomStringConvertible {
    package let id: UInt64
    /// The rejection, naming the policy; `nil` when every policy accepted.
    public let failure: TLSVerificationFailure?

    package init(id: UInt64, failure: TLSVerificationFailure?) {
        self.id = id
        self.failure = failure
    }

    /// Whether every policy accepted.
    public var isAccepted: Bool { failure == nil }

    public var description: String { failure.map { "rejected: \($0.backendText)" } ?? "accepted" }
}

/// How a check ended inside a backend: accepted, rejected, or suspended until a verdict.
package enum TLSCheckOutcome {
    case accepted
    case rejected(TLSVerificationFailure)
    case pending
}

/// A connection's state of asynchronous verification: whether its driver opted in, the
/// verification it waits for, and the verdict once given. Each backend's connection keeps
/// one. `package`: for backends.
package struct TLSVerificationSuspension {
    /// The driver called `enableAsynchronousVerification()`.
    package var enabled = false
    /// The verification the handshake is suspended for.
    @TLSIndirect package private(set) var pending: TLSPendingVerification?
    @TLSIndirect private var verdict: TLSVerificationVerdict?

    package init() {}

    /// Suspended and no verdict yet: `handshake()` answers `.verificationPending` at once.
    package var isWaiting: Bool { pending != nil && verdict == nil }

    /// Records the driver's verdict for the pending verification.
    package mutating func complete(_ given: TLSVerificationVerdict) throws(TLSError) {
        guard let pending else {
            throw TLSError(.invalidState, "completeVerification(_:) without a pending verification (handshake() did not return .verificationPending)")
        }
        guard given.id == pending.id else {
            throw TLSError(
                .invalidState,
                "completeVerification(_:) with the verdict of another verification; pass the verdict of this connection's pendingVerification")
        }
        guard verdict == nil else { throw TLSError(.invalidState, "completeVerification(_:) was already called for this verification") }
        verdict = given
    }

    /// Runs `checks` for `request` at one point of the handshake.
    ///
    /// A verdict the driver gave for this point is taken first. Otherwise the synchronous
    /// policies run; at the first asynchronous one the handshake is suspended when the driver
    /// opted in and `suspend()` (the backend's own suspension) succeeds, else the rest runs
    /// to completion on the verifier thread.
    package mutating func run(
        _ checks: TLSPeerChecks, _ request: TLSPeerVerificationRequest, suspend: () -> Bool
    ) -> TLSCheckOutcome {
        if let given = verdict {
            verdict = nil
            pending = nil
            return given.failure.map { .rejected($0) } ?? .accepted
        }
        let (failure, next) = checks.evaluateSynchronousPart(request)
        if let failure { return .rejected(failure) }
        guard let next else { return .accepted }
        if enabled, suspend() {
            pending = TLSPendingVerification(request: request, checks: checks, from: next, id: UInt64.random(in: 1...UInt64.max))
            return .pending
        }
        if let failure = checks.evaluateBlocking(request, from: next) { return .rejected(failure) }
        return .accepted
    }
}

/// One thread of TLSKit's own that runs asynchronous policies when a handshake call must
/// wait for them (a server, or a driver that did not opt in to suspension), as a task
/// executor. The work never needs a thread of Swift's cooperative pool, so a policy waited
/// for from a pool thread (a test, an event loop) cannot starve it. `package`: for the
/// core, the adapters and TLSKitX509.
package final class TLSVerifierThread: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` is only touched under `mutex`; `thread` is written once before use.
    package static let shared = TLSVerifierThread()

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var jobs: [UnownedJob] = []
    private var thread = pthread_t()

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        let me = Unmanaged.passRetained(self).toOpaque()  // the thread lives as long as the process
        pthread_create(
            &thread, nil,
            { argument in
                guard let argument else { return nil }
                Unmanaged<TLSVerifierThread>.fromOpaque(argument).takeUnretainedValue().run()
                return nil
            }, me)
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(mutex)
        jobs.append(job)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    private func run() {
        while true {
            pthread_mutex_lock(mutex)
            while jobs.isEmpty { pthread_cond_wait(condition, mutex) }
            let job = jobs.removeFirst()
            pthread_mutex_unlock(mutex)
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    /// Whether the caller is this thread (waiting here for work queued here would never end).
    package var isCurrent: Bool { pthread_equal(pthread_self(), thread) != 0 }

    /// Runs `body` on this thread and waits for it, until `deadline` at most (then the task
    /// is cancelled and its result ignored). `nil` when the deadline passed, or when called on
    /// this thread itself (it would wait for ever): callers fail closed.
    package func runBlocking<T: Sendable>(
        until deadline: ContinuousClock.Instant? = nil, _ body: @escaping @Sendable () async -> T
    ) -> T? {
        guard !isCurrent else { return nil }
        let slot = TLSWaitSlot<T>()
        let task = Task.detached(executorPreference: self) { slot.fill(await body()) }
        guard let value = slot.wait(until: deadline) else {
            task.cancel()
            return nil
        }
        return value
    }
}

/// A value handed from one thread to one waiting thread.
final class TLSWaitSlot<T: Sendable>: @unchecked Sendable {
    // @unchecked: `value` is only touched under `mutex`.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var value: T?

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func fill(_ new: T) {
        pthread_mutex_lock(mutex)
        value = new
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// The value, once filled; `nil` when `deadline` passes first.
    func wait(until deadline: ContinuousClock.Instant?) -> T? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            if let value { return value }
            guard let deadline else {
                pthread_cond_wait(condition, mutex)
                continue
            }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return nil }
            // pthread condition variables wait until a CLOCK_REALTIME instant.
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let (seconds, attoseconds) = remaining.components
            var nanoseconds = Int(now.tv_nsec) + Int(attoseconds / 1_000_000_000)
            var end = timespec(tv_sec: now.tv_sec + Int(seconds) + nanoseconds / 1_000_000_000, tv_nsec: 0)
            nanoseconds %= 1_000_000_000
            end.tv_nsec = nanoseconds
            _ = pthread_cond_timedwait(condition, mutex, &end)
        }
    }
}
