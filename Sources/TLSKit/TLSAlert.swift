/// A TLS alert description (RFC 8446 §6), by code (an open registry).
public struct TLSAlert: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The alert code.
    public var rawValue: UInt8
    /// Wraps an alert code.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// close_notify (0)
    public static let closeNotify = TLSAlert(rawValue: 0)
    /// unexpected_message (10)
    public static let unexpectedMessage = TLSAlert(rawValue: 10)
    /// bad_record_mac (20)
    public static let badRecordMAC = TLSAlert(rawValue: 20)
    /// record_overflow (22)
    public static let recordOverflow = TLSAlert(rawValue: 22)
    /// handshake_failure (40)
    public static let handshakeFailure = TLSAlert(rawValue: 40)
    /// bad_certificate (42)
    public static let badCertificate = TLSAlert(rawValue: 42)
    /// unsupported_certificate (43)
    public static let unsupportedCertificate = TLSAlert(rawValue: 43)
    /// certificate_revoked (44)
    public static let certificateRevoked = TLSAlert(rawValue: 44)
    /// certificate_expired (45)
    public static let certificateExpired = TLSAlert(rawValue: 45)
    /// certificate_unknown (46)
    public static let certificateUnknown = TLSAlert(rawValue: 46)
    /// illegal_parameter (47)
    public static let illegalParameter = TLSAlert(rawValue: 47)
    /// unknown_ca (48)
    public static let unknownCA = TLSAlert(rawValue: 48)
    /// access_denied (49)
    public static let accessDenied = TLSAlert(rawValue: 49)
    /// decode_error (50)
    public static let decodeError = TLSAlert(rawValue: 50)
    /// decrypt_error (51)
    public static let decryptError = TLSAlert(rawValue: 51)
    /// protocol_version (70)
    public static let protocolVersion = TLSAlert(rawValue: 70)
    /// insufficient_security (71)
    public static let insufficientSecurity = TLSAlert(rawValue: 71)
    /// internal_error (80)
    public static let internalError = TLSAlert(rawValue: 80)
    /// inappropriate_fallback (86)
    public static let inappropriateFallback = TLSAlert(rawValue: 86)
    /// user_canceled (90)
    public static let userCanceled = TLSAlert(rawValue: 90)
    /// missing_extension (109)
    public static let missingExtension = TLSAlert(rawValue: 109)
    /// unsupported_extension (110)
    public static let unsupportedExtension = TLSAlert(rawValue: 110)
    /// unrecognized_name (112)
    public static let unrecognizedName = TLSAlert(rawValue: 112)
    /// bad_certificate_status_response (113): the client refused the OCSP response the server stapled.
    public static let badCertificateStatusResponse = TLSAlert(rawValue: 113)
    /// certificate_required (116)
    public static let certificateRequired = TLSAlert(rawValue: 116)
    /// no_application_protocol (120)
    public static let noApplicationProtocol = TLSAlert(rawValue: 120)

    private static let names: [UInt8: String] = [
        0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
        40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
        44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
        47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
        51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
        86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension",
        110: "unsupported_extension", 112: "unrecognized_name", 113: "bad_certificate_status_response", 116: "certificate_required",
        120: "no_application_protocol",
    ]

    /// The RFC name (`unknown_ca`), or `alert(N)`.
    public var description: String { Self.names[rawValue] ?? "alert(\(rawValue))" }
}
