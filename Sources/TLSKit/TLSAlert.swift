/// A TLS alert description (RFC 8446 §6), by code (an open registry).
public struct TLSAlert: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The alert code.
    public var rawValue: UInt8
    /// Wraps an alert code.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let closeNotify = TLSAlert(rawValue: 0)
    public static let unexpectedMessage = TLSAlert(rawValue: 10)
    public static let badRecordMAC = TLSAlert(rawValue: 20)
    public static let recordOverflow = TLSAlert(rawValue: 22)
    public static let handshakeFailure = TLSAlert(rawValue: 40)
    public static let badCertificate = TLSAlert(rawValue: 42)
    public static let unsupportedCertificate = TLSAlert(rawValue: 43)
    public static let certificateRevoked = TLSAlert(rawValue: 44)
    public static let certificateExpired = TLSAlert(rawValue: 45)
    public static let certificateUnknown = TLSAlert(rawValue: 46)
    public static let illegalParameter = TLSAlert(rawValue: 47)
    public static let unknownCA = TLSAlert(rawValue: 48)
    public static let accessDenied = TLSAlert(rawValue: 49)
    public static let decodeError = TLSAlert(rawValue: 50)
    public static let decryptError = TLSAlert(rawValue: 51)
    public static let protocolVersion = TLSAlert(rawValue: 70)
    public static let insufficientSecurity = TLSAlert(rawValue: 71)
    public static let internalError = TLSAlert(rawValue: 80)
    public static let inappropriateFallback = TLSAlert(rawValue: 86)
    public static let userCanceled = TLSAlert(rawValue: 90)
    public static let missingExtension = TLSAlert(rawValue: 109)
    public static let unsupportedExtension = TLSAlert(rawValue: 110)
    public static let unrecognizedName = TLSAlert(rawValue: 112)
    public static let certificateRequired = TLSAlert(rawValue: 116)
    public static let noApplicationProtocol = TLSAlert(rawValue: 120)

    private static let names: [UInt8: String] = [
        0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
        40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
        44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
        47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
        51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
        86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension",
        110: "unsupported_extension", 112: "unrecognized_name", 116: "certificate_required",
        120: "no_application_protocol",
    ]

    /// The RFC name (`unknown_ca`), or `alert(N)`.
    public var description: String { Self.names[rawValue] ?? "alert(\(rawValue))" }
}
