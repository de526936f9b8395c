import Foundation

/// One thread of TLSKit's own that runs the async parts of certificate policies (the
/// verifier of swift-certificates), as a task executor. Policies are called synchronously
/// from whatever thread drives a connection; running their async work here means they
/// never wait for a thread of the cooperative pool that they may themselves be blocking.
final class TLSVerifierThread: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` is only touched under `condition`.
    static let shared = TLSVerifierThread()

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    private init() {
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "tlskit-verifier"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
