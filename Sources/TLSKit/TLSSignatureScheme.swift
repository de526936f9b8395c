/// A TLS signature scheme, by IANA code (an open registry).
public struct TLSSignatureScheme: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The IANA code, e.g. `0x0403`.
    public var rawValue: UInt16
    /// Wraps an IANA code.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// rsa_pkcs1_sha256
    public static let rsaPKCS1SHA256 = TLSSignatureScheme(rawValue: 0x0401)
    /// rsa_pkcs1_sha384
    public static let rsaPKCS1SHA384 = TLSSignatureScheme(rawValue: 0x0501)
    /// rsa_pkcs1_sha512
    public static let rsaPKCS1SHA512 = TLSSignatureScheme(rawValue: 0x0601)
    /// ecdsa_secp256r1_sha256
    public static let ecdsaSecp256r1SHA256 = TLSSignatureScheme(rawValue: 0x0403)
    /// ecdsa_secp384r1_sha384
    public static let ecdsaSecp384r1SHA384 = TLSSignatureScheme(rawValue: 0x0503)
    /// ecdsa_secp521r1_sha512
    public static let ecdsaSecp521r1SHA512 = TLSSignatureScheme(rawValue: 0x0603)
    /// rsa_pss_rsae_sha256
    public static let rsaPSSRSAESHA256 = TLSSignatureScheme(rawValue: 0x0804)
    /// rsa_pss_rsae_sha384
    public static let rsaPSSRSAESHA384 = TLSSignatureScheme(rawValue: 0x0805)
    /// rsa_pss_rsae_sha512
    public static let rsaPSSRSAESHA512 = TLSSignatureScheme(rawValue: 0x0806)
    /// ed25519
    public static let ed25519 = TLSSignatureScheme(rawValue: 0x0807)
    /// ed448
    public static let ed448 = TLSSignatureScheme(rawValue: 0x0808)

    /// The IANA names of the schemes this registry knows.
    public static let ianaNames: [TLSSignatureScheme: String] = [
        .rsaPKCS1SHA256: "rsa_pkcs1_sha256", .rsaPKCS1SHA384: "rsa_pkcs1_sha384",
        .rsaPKCS1SHA512: "rsa_pkcs1_sha512", .ecdsaSecp256r1SHA256: "ecdsa_secp256r1_sha256",
        .ecdsaSecp384r1SHA384: "ecdsa_secp384r1_sha384", .ecdsaSecp521r1SHA512: "ecdsa_secp521r1_sha512",
        .rsaPSSRSAESHA256: "rsa_pss_rsae_sha256", .rsaPSSRSAESHA384: "rsa_pss_rsae_sha384",
        .rsaPSSRSAESHA512: "rsa_pss_rsae_sha512", .ed25519: "ed25519", .ed448: "ed448",
    ]

    /// The IANA name, or `0xHHHH`.
    public var description: String { Self.ianaNames[self] ?? "0x" + hex(rawValue) }
}
