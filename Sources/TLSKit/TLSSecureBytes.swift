#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Bytes of secret material (a private key, a passphrase) kept in storage that is
/// overwritten with zeros when the last copy is released, and never printed.
///
/// Copies share one storage (it is immutable once made). `description` shows only the
/// length. Equality compares contents in constant time; the hash covers the length only,
/// so equal values hash equal without the secret ever entering a `Hasher` (whose state is
/// not wiped).
///
/// Thread-safety: immutable and `Sendable`.
public struct TLSSecureBytes: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    private let storage: Storage

    /// Copies `bytes` into zeroing storage. The caller should clear its own copy.
    public init(_ bytes: some Sequence<UInt8>) {
        storage = Storage(Array(bytes))
    }

    /// Moves `bytes` into zeroing storage and overwrites the caller's array with zeros.
    ///
    /// The array keeps its length and its buffer: the zeros are written into the buffer
    /// the array already has, not into a copy of it, so the secret is gone from that memory
    /// when this returns. Copy-on-write cannot wipe copies made earlier — another array
    /// that shares the buffer makes Swift give `bytes` a buffer of its own first — so do not
    /// keep other copies:
    ///
    /// ```swift
    /// var pin = readPIN()                                // the only copy
    /// let secret = TLSSecureBytes(wiping: &pin)          // pin is now all zeros
    /// ```
    public init(wiping bytes: inout [UInt8]) {
        storage = bytes.withUnsafeMutableBufferPointer { buffer in
            let storage = Storage(copying: UnsafeBufferPointer(buffer))
            if let base = buffer.baseAddress { explicit_bzero(base, buffer.count) }
            return storage
        }
    }

    /// Copies a string's UTF-8 bytes into zeroing storage.
    public init(utf8 string: String) {
        storage = Storage(Array(string.utf8))
    }

    /// The number of bytes.
    public var count: Int { storage.count }

    /// Lends the bytes for the duration of `body`. Do not let the pointer escape.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: storage.buffer.baseAddress, count: storage.count))
    }

    /// Shows the length only, never the bytes.
    public var description: String { "TLSSecureBytes(\(count) bytes, redacted)" }
    public var debugDescription: String { description }

    public static func == (lhs: TLSSecureBytes, rhs: TLSSecureBytes) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<lhs.count { diff |= lhs.storage.buffer[i] ^ rhs.storage.buffer[i] }
        return diff == 0
    }

    public func hash(into hasher: inout Hasher) {
        // Equal contents must hash equal (Hashable); the length is all that is hashed,
        // so the secret itself never goes into the hasher.
        hasher.combine(count)
    }

    /// Watches a secure buffer's memory, so a test can prove it is zeroed on release.
    ///
    /// The observer keeps the address only (never the bytes); after the last
    /// ``TLSSecureBytes`` copy is gone, ``wasZeroed`` reports whether the storage was wiped
    /// before it was freed.
    @_spi(Testing) public final class Observer: @unchecked Sendable {
        // @unchecked: written once by Storage.deinit, read after the storage is gone.
        /// Whether the storage was zeroed when it was released.
        public private(set) var wasZeroed: Bool = false
        fileprivate func record(_ zeroed: Bool) { wasZeroed = zeroed }
        /// Creates an observer; attach it with ``TLSSecureBytes/attach(_:)``.
        public init() {}
    }

    /// Attaches an observer that learns whether the storage was zeroed on release.
    @_spi(Testing) public func attach(_ observer: Observer) { storage.observer = observer }

    private final class Storage: @unchecked Sendable {
        // @unchecked: the buffer is written only in init and deinit; `observer` is a
        // test hook set before the storage is shared.
        let buffer: UnsafeMutableBufferPointer<UInt8>
        let count: Int
        var observer: Observer?

        init(_ bytes: [UInt8]) {
            count = bytes.count
            buffer = .allocate(capacity: max(bytes.count, 1))
            buffer.initialize(repeating: 0)
            var source = bytes
            for i in 0..<source.count { buffer[i] = source[i] }
            // Wipe the temporary array too.
            source.withUnsafeMutableBytes { raw in
                if let base = raw.baseAddress { explicit_bzero(base, raw.count) }
            }
        }

        /// Copies from memory the caller owns (and wipes itself).
        init(copying source: UnsafeBufferPointer<UInt8>) {
            count = source.count
            buffer = .allocate(capacity: max(source.count, 1))
            buffer.initialize(repeating: 0)
            for i in 0..<source.count { buffer[i] = source[i] }
        }

        deinit {
            let base = UnsafeMutableRawPointer(buffer.baseAddress!)
            explicit_bzero(base, buffer.count)
            if let observer {
                observer.record(buffer.allSatisfy { $0 == 0 })
            }
            buffer.deallocate()
        }
    }
}
