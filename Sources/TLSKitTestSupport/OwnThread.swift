import Foundation

/// Runs blocking `body` on a new thread and awaits its result.
///
/// An async test must not block in a task (`Task.detached` included): tasks share a pool of
/// about one thread per core with every other test running in parallel, so a blocked task
/// can hold up the very tasks it waits for.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try body() })
        }
    }
}
