#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// TLSKit's one way to read and set environment variables. `setenv` is not safe while
/// another thread calls `getenv`, and a backend must set variables around provider start-up
/// (tpm2-openssl reads its TCTI only from the environment), so every read TLSKit makes
/// (passphrases from `TLSPassphrase.environment`) and every temporary setting go through
/// one process-wide lock. `package`: for backends.
package enum TLSEnvironment {
    private static let lock = TLSMutex()

    /// The value of `name`, copied into zeroing storage; `nil` when it is not set.
    package static func secret(_ name: String) -> TLSSecureBytes? {
        lock.withLock {
            guard let value = getenv(name) else { return nil }
            return TLSSecureBytes(UnsafeBufferPointer(start: UnsafeRawPointer(value).assumingMemoryBound(to: UInt8.self), count: strlen(value)))
        }
    }

    /// Runs `body` with `variables` set, and restores what was there before; no TLSKit read
    /// or other setting happens meanwhile.
    package static func with<E: Error>(_ variables: [(String, String)], _ body: () throws(E) -> Void) throws(E) {
        guard !variables.isEmpty else { return try body() }
        let result: Result<Void, E> = lock.withLock {
            var saved: [(String, String?)] = []
            for (name, value) in variables {
                saved.append((name, getenv(name).map { String(cString: $0) }))
                setenv(name, value, 1)
            }
            defer {
                for (name, old) in saved {
                    if let old { setenv(name, old, 1) } else { unsetenv(name) }
                }
            }
            return Result { () throws(E) in try body() }
        }
        try result.get()
    }
}
