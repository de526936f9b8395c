internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit

#if canImport(Glibc)
import Glibc
#endif

/// The session-ticket keys of one server context, rotated every `lifetime`: new tickets use
/// the newest key; tickets under the previous key are accepted and renewed; older ones are
/// not (a full handshake). Keys live in zeroing storage. Thread-safe.
final class OpenSSLTicketKeys: @unchecked Sendable {
    // @unchecked: `keys` and `clock` are only read and written under `lock`; `cipher` is read-only.
    struct Key {
        let name: [UInt8]
        let aes: TLSSecureBytes
        let hmac: TLSSecureBytes
        let created: UInt64
    }

    private let lock = TLSMutex()
    private var keys: [Key] = []  // newest first, at most two
    private let lifetime: UInt64
    /// Seconds on a monotonic clock; replaceable (``setClock(_:)``) so tests can move time.
    private var clock: @Sendable () -> UInt64 = {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec)
    }

    /// Replaces the clock (tests), under the lock like every other use of it.
    func setClock(_ clock: @escaping @Sendable () -> UInt64) {
        lock.withLock { self.clock = clock }
    }

    /// A key's age; `nil` when the clock reads earlier than the key's creation (a clock
    /// that went backwards): such a key is treated as expired, never trapped on.
    private static func age(of key: Key, at now: UInt64) -> UInt64? {
        now >= key.created ? now - key.created : nil
    }
    let cipher: OpaquePointer

    init(library: OpenSSLLibraryContext, lifetime: Duration) throws(TLSError) {
        self.lifetime = UInt64(max(1, lifetime.components.seconds))
        guard let cipher = EVP_CIPHER_fetch(library.pointer, "AES-256-CBC", library.propertyQuery) else {
            throw TLSError(
                .internal, "AES-256-CBC is not available for session tickets",
                backendErrors: OpenSSLErrorStack.drain().map(\.text))
        }
        self.cipher = cipher
    }

    deinit { EVP_CIPHER_free(cipher) }

    /// The key for new tickets (a new one once the newest is older than the lifetime).
    func current() -> Key? {
        lock.withLock {
            let now = clock()
            if keys.isEmpty || (Self.age(of: keys[0], at: now).map { $0 >= lifetime } ?? true) {
                guard let key = Self.generate(at: now) else { return nil }
                keys.insert(key, at: 0)
                if keys.count > 2 { keys.removeLast() }
            }
            return keys[0]
        }
    }

    /// The key a ticket names, if it is still honoured (younger than two lifetimes).
    func find(_ name: [UInt8]) -> Key? {
        lock.withLock {
            let now = clock()
            keys.removeAll { Self.age(of: $0, at: now).map { $0 >= 2 * lifetime } ?? true }
            return keys.first { $0.name == name }
        }
    }

    private static func generate(at now: UInt64) -> Key? {
        var bytes = [UInt8](repeating: 0, count: 16 + 32 + 32)
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else { return nil }
        defer { explicit_bzero(&bytes, bytes.count) }
        return Key(name: Array(bytes[0..<16]), aes: TLSSecureBytes(bytes[16..<48]), hmac: TLSSecureBytes(bytes[48..<80]), created: now)
    }

    /// OpenSSL's ticket-key callback: `encrypt` 1 to make a ticket, 0 to open one.
    func handle(
        name: UnsafeMutablePointer<UInt8>, iv: UnsafeMutablePointer<UInt8>, cipherContext: OpaquePointer,
        macContext: OpaquePointer, encrypt: Bool
    ) -> Int32 {
        let key: Key
        var result: Int32 = 1
        if encrypt {
            guard let current = current(), RAND_bytes(iv, 16) == 1 else { return -1 }
            key = current
            for i in 0..<16 { name[i] = key.name[i] }
        } else {
            guard let found = find(Array(UnsafeBufferPointer(start: name, count: 16))) else { return 0 }
            key = found
            // 2: accept and issue a fresh ticket (under the newest key). Always: a TLS 1.3
            // client uses each ticket once, and OpenSSL 3.0 sends none after a 1.
            result = 2
        }
        let cipherOK = key.aes.withUnsafeBytes { aes -> Bool in
            let bytes = aes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            return encrypt
                ? EVP_EncryptInit_ex2(cipherContext, cipher, bytes, iv, nil) == 1
                : EVP_DecryptInit_ex2(cipherContext, cipher, bytes, iv, nil) == 1
        }
        guard cipherOK else { return -1 }
        // OSSL_PARAM keeps pointers to its names and values: they must outlive the call,
        // so the names are static C strings (a Swift literal would be a temporary).
        let macOK = key.hmac.withUnsafeBytes { hmac -> Bool in
            var params = [
                OSSL_PARAM_construct_octet_string(ParamNames.key, UnsafeMutableRawPointer(mutating: hmac.baseAddress), hmac.count),
                OSSL_PARAM_construct_utf8_string(ParamNames.digest, ParamNames.sha256, 0),
                OSSL_PARAM_construct_end(),
            ]
            return EVP_MAC_CTX_set_params(macContext, &params) == 1
        }
        return macOK ? result : -1
    }
}

/// C strings that live for the whole process, for OSSL_PARAM names and values.
private enum ParamNames {
    nonisolated(unsafe) static let key = strdup("key")!
    nonisolated(unsafe) static let digest = strdup("digest")!
    nonisolated(unsafe) static let sha256 = strdup("SHA256")!
}
