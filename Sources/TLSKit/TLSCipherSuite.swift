/// A TLS cipher suite, by its IANA code (an open registry).
///
/// TLS 1.2 and TLS 1.3 suites live in the same registry; a backend maps the codes to its
/// own names. Unknown codes stay representable and are reported as hex.
public struct TLSCipherSuite: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The IANA code, e.g. `0x1301`.
    public var rawValue: UInt16
    /// Wraps an IANA code.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    // MARK: TLS 1.3
    /// TLS_AES_128_GCM_SHA256 (TLS 1.3)
    public static let tlsAES128GCMSHA256 = TLSCipherSuite(rawValue: 0x1301)
    /// TLS_AES_256_GCM_SHA384 (TLS 1.3)
    public static let tlsAES256GCMSHA384 = TLSCipherSuite(rawValue: 0x1302)
    /// TLS_CHACHA20_POLY1305_SHA256 (TLS 1.3)
    public static let tlsCHACHA20POLY1305SHA256 = TLSCipherSuite(rawValue: 0x1303)
    /// TLS_AES_128_CCM_SHA256 (TLS 1.3)
    public static let tlsAES128CCMSHA256 = TLSCipherSuite(rawValue: 0x1304)
    /// TLS_AES_128_CCM_8_SHA256 (TLS 1.3)
    public static let tlsAES128CCM8SHA256 = TLSCipherSuite(rawValue: 0x1305)

    // MARK: TLS 1.2, forward-secret AEAD
    /// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    public static let ecdheECDSAWithAES128GCMSHA256 = TLSCipherSuite(rawValue: 0xC02B)
    /// TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    public static let ecdheECDSAWithAES256GCMSHA384 = TLSCipherSuite(rawValue: 0xC02C)
    /// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    public static let ecdheRSAWithAES128GCMSHA256 = TLSCipherSuite(rawValue: 0xC02F)
    /// TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    public static let ecdheRSAWithAES256GCMSHA384 = TLSCipherSuite(rawValue: 0xC030)
    /// TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
    public static let ecdheRSAWithCHACHA20POLY1305SHA256 = TLSCipherSuite(rawValue: 0xCCA8)
    /// TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
    public static let ecdheECDSAWithCHACHA20POLY1305SHA256 = TLSCipherSuite(rawValue: 0xCCA9)
    /// TLS_DHE_RSA_WITH_AES_128_GCM_SHA256
    public static let dheRSAWithAES128GCMSHA256 = TLSCipherSuite(rawValue: 0x009E)
    /// TLS_DHE_RSA_WITH_AES_256_GCM_SHA384
    public static let dheRSAWithAES256GCMSHA384 = TLSCipherSuite(rawValue: 0x009F)
    /// TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256
    public static let dheRSAWithCHACHA20POLY1305SHA256 = TLSCipherSuite(rawValue: 0xCCAA)

    // MARK: TLS 1.2, legacy (CBC, or no forward secrecy)
    /// TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA
    public static let ecdheECDSAWithAES128CBCSHA = TLSCipherSuite(rawValue: 0xC009)
    /// TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA
    public static let ecdheECDSAWithAES256CBCSHA = TLSCipherSuite(rawValue: 0xC00A)
    /// TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA
    public static let ecdheRSAWithAES128CBCSHA = TLSCipherSuite(rawValue: 0xC013)
    /// TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA
    public static let ecdheRSAWithAES256CBCSHA = TLSCipherSuite(rawValue: 0xC014)
    /// TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256
    public static let ecdheECDSAWithAES128CBCSHA256 = TLSCipherSuite(rawValue: 0xC023)
    /// TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256
    public static let ecdheRSAWithAES128CBCSHA256 = TLSCipherSuite(rawValue: 0xC027)
    /// TLS_RSA_WITH_AES_128_GCM_SHA256 (no forward secrecy)
    public static let rsaWithAES128GCMSHA256 = TLSCipherSuite(rawValue: 0x009C)
    /// TLS_RSA_WITH_AES_256_GCM_SHA384 (no forward secrecy)
    public static let rsaWithAES256GCMSHA384 = TLSCipherSuite(rawValue: 0x009D)
    /// TLS_RSA_WITH_AES_128_CBC_SHA (no forward secrecy)
    public static let rsaWithAES128CBCSHA = TLSCipherSuite(rawValue: 0x002F)
    /// TLS_RSA_WITH_AES_256_CBC_SHA (no forward secrecy)
    public static let rsaWithAES256CBCSHA = TLSCipherSuite(rawValue: 0x0035)

    /// The IANA names of the suites this registry knows.
    public static let ianaNames: [TLSCipherSuite: String] = [
        .tlsAES128GCMSHA256: "TLS_AES_128_GCM_SHA256",
        .tlsAES256GCMSHA384: "TLS_AES_256_GCM_SHA384",
        .tlsCHACHA20POLY1305SHA256: "TLS_CHACHA20_POLY1305_SHA256",
        .tlsAES128CCMSHA256: "TLS_AES_128_CCM_SHA256",
        .tlsAES128CCM8SHA256: "TLS_AES_128_CCM_8_SHA256",
        .ecdheECDSAWithAES128GCMSHA256: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        .ecdheECDSAWithAES256GCMSHA384: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        .ecdheRSAWithAES128GCMSHA256: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        .ecdheRSAWithAES256GCMSHA384: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        .ecdheRSAWithCHACHA20POLY1305SHA256: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        .ecdheECDSAWithCHACHA20POLY1305SHA256: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        .dheRSAWithAES128GCMSHA256: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        .dheRSAWithAES256GCMSHA384: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        .dheRSAWithCHACHA20POLY1305SHA256: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        .ecdheECDSAWithAES128CBCSHA: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        .ecdheECDSAWithAES256CBCSHA: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        .ecdheRSAWithAES128CBCSHA: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        .ecdheRSAWithAES256CBCSHA: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        .ecdheECDSAWithAES128CBCSHA256: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        .ecdheRSAWithAES128CBCSHA256: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        .rsaWithAES128GCMSHA256: "TLS_RSA_WITH_AES_128_GCM_SHA256",
        .rsaWithAES256GCMSHA384: "TLS_RSA_WITH_AES_256_GCM_SHA384",
        .rsaWithAES128CBCSHA: "TLS_RSA_WITH_AES_128_CBC_SHA",
        .rsaWithAES256CBCSHA: "TLS_RSA_WITH_AES_256_CBC_SHA",
    ]

    /// Looks a suite up by its IANA name (`TLS_AES_128_GCM_SHA256`); `nil` if unknown.
    public init?(ianaName: String) {
        guard let match = Self.ianaNames.first(where: { $0.value == ianaName.uppercased() }) else { return nil }
        self = match.key
    }

    /// `true` for the TLS 1.3 suites (`0x13xx`).
    public var isTLS13: Bool { rawValue >> 8 == 0x13 }

    /// The IANA name, or `0xHHHH` for codes this registry does not name.
    public var description: String { Self.ianaNames[self] ?? "0x" + hex(rawValue) }
}

/// Why TLSKit never offers or accepts a cipher suite, under any ``TLSSecurityPolicy``
/// (`.compatible` included) and any backend option.
///
/// Backends classify their own suite tables with it: such suites are missing from
/// `capabilities.cipherSuites`, and a configuration that names one fails when the context
/// is built (``TLSError/Code/configuration``, field `cipherSuites`).
package enum TLSCipherSuiteRefusal: Hashable, Sendable {
    /// Anonymous key exchange (`aNULL`): the server is not authenticated.
    case anonymous
    /// NULL encryption (`eNULL`): the records are not encrypted.
    case nullEncryption
    /// Pre-shared keys (`PSK`): TLSKit has no PSK configuration; with none, the suite would
    /// run without the certificate checks the configuration asks for.
    case preSharedKey
    /// Secure Remote Password (`SRP`): password authentication instead of certificates.
    case secureRemotePassword

    /// Why the suite is refused, for error messages.
    package var reason: String {
        switch self {
        case .anonymous:
            return "it is anonymous (no server certificate), so anyone on the path can impersonate the server"
        case .nullEncryption:
            return "it has NULL encryption, so the traffic is sent in the clear"
        case .preSharedKey:
            return "it is a PSK suite, authenticated by a pre-shared key instead of a certificate, which TLSKit does not configure"
        case .secureRemotePassword:
            return "it is an SRP suite, authenticated by a password instead of a certificate, which TLSKit does not configure"
        }
    }

    /// The error for a configuration that names `suite` (`backendName`: the backend's own
    /// name for it, if it has one).
    package func error(for suite: TLSCipherSuite, backendName: String?) -> TLSError {
        let shown = "0x" + hex(suite.rawValue) + (backendName.map { " (\($0))" } ?? "")
        return TLSError.configuration(
            field: "cipherSuites",
            "\(shown) is never offered or accepted, under any security policy: \(reason); remove it from cipherSuites")
    }
}
