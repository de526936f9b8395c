/// A TLS protocol version, by its wire code (an open registry).
///
/// TLSKit negotiates TLS 1.2 and TLS 1.3 by default; older versions are representable so
/// that a peer's choice can be reported, and can only be enabled under
/// ``TLSSecurityPolicy/compatible``.
public struct TLSProtocolVersion: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The wire code, e.g. `0x0304` for TLS 1.3.
    public var rawValue: UInt16
    /// Wraps a wire code; unknown codes stay representable.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// TLS 1.0 (`0x0301`). Obsolete (RFC 8996).
    public static let tls1_0 = TLSProtocolVersion(rawValue: 0x0301)
    /// TLS 1.1 (`0x0302`). Obsolete (RFC 8996).
    public static let tls1_1 = TLSProtocolVersion(rawValue: 0x0302)
    /// TLS 1.2 (`0x0303`), RFC 5246. TLSKit's default floor.
    public static let tls1_2 = TLSProtocolVersion(rawValue: 0x0303)
    /// TLS 1.3 (`0x0304`), RFC 8446.
    public static let tls1_3 = TLSProtocolVersion(rawValue: 0x0304)

    /// Parses `"1.2"`, `"1.3"`, `"TLSv1.2"`, `"tls1.3"` and the like; `nil` otherwise.
    public init?(_ text: String) {
        var t = text.lowercased()
        for prefix in ["tlsv", "tls"] where t.hasPrefix(prefix) {
            t.removeFirst(prefix.count)
            break
        }
        switch t {
        case "1.0", "1": self = .tls1_0
        case "1.1": self = .tls1_1
        case "1.2": self = .tls1_2
        case "1.3": self = .tls1_3
        default: return nil
        }
    }

    public static func < (lhs: TLSProtocolVersion, rhs: TLSProtocolVersion) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `TLSv1.3`, `TLSv1.2` …, or the hex code for unknown versions.
    public var description: String {
        switch self {
        case .tls1_0: return "TLSv1.0"
        case .tls1_1: return "TLSv1.1"
        case .tls1_2: return "TLSv1.2"
        case .tls1_3: return "TLSv1.3"
        default: return "0x" + hex(rawValue)
        }
    }
}

func hex(_ value: UInt16) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
