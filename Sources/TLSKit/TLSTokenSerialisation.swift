/// A PKCS#11 module's state (its login, its sessions, the objects a search finds) belongs to
/// the whole process, shared by every pkcs11-provider instance, libp11 ENGINE and GnuTLS
/// (p11-kit) user of the same token. Loads from a token and pkcs11-provider's start-up
/// (which initialises the module and logs in) happen when a backend or a context is made,
/// which is rare: both backends run them one at a time, process-wide, so that no load sees
/// another's half-done login or session. Signing is not serialised here. `package`: for
/// backends.
package enum TLSTokenSerialisation {
    private static let lock = TLSMutex()

    /// Runs `body` under the process-wide token lock when `needed` (a `pkcs11:` URI, a
    /// pkcs11 provider), directly otherwise. Not reentrant.
    package static func run<T>(if needed: Bool, _ body: () throws(TLSError) -> T) throws(TLSError) -> T {
        guard needed else { return try body() }
        let result: Result<T, TLSError> = lock.withLock { Result { () throws(TLSError) in try body() } }
        return try result.get()
    }

    /// Runs `body`, which cannot throw, under the process-wide token lock. Not reentrant.
    package static func locked<T>(_ body: () -> T) -> T { lock.withLock(body) }
}
