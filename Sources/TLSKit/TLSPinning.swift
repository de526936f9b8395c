/// A pinned public key: the SHA-256 hash of a certificate's DER-encoded
/// SubjectPublicKeyInfo (the same value as HPKP's `pin-sha256`, curl's `--pinnedpubkey
/// sha256//…` and DANE's `3 1 1` records).
///
/// Compute one from a certificate with
/// `openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64`,
/// or with `tlskit connect … --json`, which prints the server's pin.
///
/// Value type; `Sendable`, `Hashable`.
public struct TLSPublicKeyPin: Hashable, Sendable, CustomStringConvertible {
    /// The 32 bytes of the SHA-256 hash.
    public let sha256: [UInt8]

    /// A pin from the hash's 32 bytes.
    ///
    /// - Throws: ``TLSError/Code/configuration`` when `sha256` is not 32 bytes long.
    public init(sha256: [UInt8]) throws(TLSError) {
        guard sha256.count == 32 else {
            throw TLSError.configuration(
                field: "pin", "a SHA-256 pin is 32 bytes, not \(sha256.count); hash the DER SubjectPublicKeyInfo with SHA-256")
        }
        self.sha256 = sha256
    }

    /// Parses `sha256:BASE64`, `sha256//BASE64` (curl's form) or `sha256:HEX`.
    ///
    /// - Throws: ``TLSError/Code/configuration`` naming the accepted forms.
    public init(_ text: String) throws(TLSError) {
        let value: Substring
        if text.hasPrefix("sha256:") {
            value = text.dropFirst(7)
        } else if text.hasPrefix("sha256//") {
            value = text.dropFirst(8)
        } else {
            throw TLSError.configuration(
                field: "pin",
                "'\(text)' is not a key pin; write sha256:BASE64 (or sha256:HEX), the SHA-256 of the DER SubjectPublicKeyInfo")
        }
        if value.count == 64, let bytes = Self.hex(value) {
            try self.init(sha256: bytes)
        } else if let bytes = Self.base64(value) {
            try self.init(sha256: bytes)
        } else {
            throw TLSError.configuration(field: "pin", "'\(text)': the hash is neither base64 nor 64 hex digits")
        }
    }

    /// `sha256:` followed by the hash in base64.
    public var description: String { "sha256:" + Self.base64Encoded(sha256) }

    static func hex(_ text: Substring) -> [UInt8]? {
        var bytes: [UInt8] = []
        var high: UInt8?
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high {
                bytes.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        return high == nil ? bytes : nil
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard base64 (RFC 4648 §4), padding required when the length is not a multiple of 4
    /// is tolerated; `-` and `_` (the URL-safe alphabet) are accepted too.
    static func base64(_ text: Substring) -> [UInt8]? {
        var bits: UInt32 = 0
        var count = 0
        var out: [UInt8] = []
        var padding = 0
        for c in text.utf8 {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"), UInt8(ascii: "-"): v = 62
            case UInt8(ascii: "/"), UInt8(ascii: "_"): v = 63
            case UInt8(ascii: "="):
                padding += 1
                continue
            default: return nil
            }
            if padding > 0 { return nil }  // data after padding
            bits = bits << 6 | v
            count += 6
            if count >= 8 {
                count -= 8
                out.append(UInt8(truncatingIfNeeded: bits >> UInt32(count)))
            }
        }
        return padding <= 2 ? out : nil
    }

    static func base64Encoded(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b0 = UInt32(bytes[i])
            let b1 = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
            let b2 = i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0
            let n = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(i + 1 < bytes.count ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(n & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension TLSTrustStore {
    /// Trusts exactly these keys: the peer's leaf certificate must hold one of them (its
    /// SubjectPublicKeyInfo's SHA-256 equals a pin, or equals that of one of the pinned
    /// certificates). For devices with self-signed certificates, and for peers you know
    /// in advance.
    ///
    /// As with DANE-EE (RFC 7671 §5.1), the key *is* the identity: no chain is built, and
    /// neither the name nor the validity period of the certificate is checked. The peer
    /// still proves in the handshake that it holds the private key. Verification policies
    /// and hooks still run (``TLSPeerVerificationRequest/backendVerification`` is
    /// ``TLSPeerVerification/pinned``). Revocation lists cannot be combined with pins
    /// (there is no chain to check them against).
    ///
    /// - Parameters:
    ///   - keys: SHA-256 pins of SubjectPublicKeyInfo.
    ///   - certificates: certificates whose keys are pinned (PEM, DER or files; read when
    ///     the context is built).
    public static func pinned(keys: [TLSPublicKeyPin] = [], certificates: [TLSCertificate] = []) -> TLSTrustStore {
        TLSTrustStore(.pinned(keys: keys, certificates: certificates))
    }

    /// Whether this store pins keys rather than naming roots.
    public var isPinned: Bool {
        if case .pinned = source { return true }
        return false
    }

    /// For a pinned store: the checks that need no backend (at least one pin).
    package func validatePins(field: String) throws(TLSError) {
        guard case .pinned(let keys, let certificates) = source else { return }
        if keys.isEmpty && certificates.isEmpty {
            throw TLSError.configuration(field: field, "a pinned trust store needs at least one key or certificate")
        }
    }
}
