/// An ALPN protocol identifier (RFC 7301): 1 to 255 opaque bytes, usually ASCII.
///
/// Create one from a string literal (`"h2"`) or use the constants.
public struct TLSApplicationProtocol: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The identifier's bytes as sent on the wire.
    public let bytes: [UInt8]

    /// Wraps wire bytes. Fails for empty identifiers and ones longer than 255 bytes.
    public init?(bytes: [UInt8]) {
        guard !bytes.isEmpty, bytes.count <= 255 else { return nil }
        self.bytes = bytes
    }

    /// Wraps a string's UTF-8 bytes. Fails for empty or over-long identifiers.
    public init?(_ string: String) { self.init(bytes: Array(string.utf8)) }

    /// A literal identifier; the literal must be 1 to 255 bytes.
    public init(stringLiteral value: String) {
        guard let made = TLSApplicationProtocol(value) else {
            preconditionFailure("an ALPN identifier must be 1 to 255 bytes, got \(value.utf8.count)")
        }
        self = made
    }

    /// HTTP/1.1 (`http/1.1`)
    public static let http1_1: TLSApplicationProtocol = "http/1.1"
    /// HTTP/2 over TLS (`h2`)
    public static let http2: TLSApplicationProtocol = "h2"
    /// HTTP/3 (`h3`)
    public static let http3: TLSApplicationProtocol = "h3"

    /// The identifier as text (invalid UTF-8 is shown with replacement characters).
    public var description: String { String(decoding: bytes, as: UTF8.self) }

    /// Encodes a list in the wire format (length-prefixed identifiers).
    public static func wireFormat(_ protocols: [TLSApplicationProtocol]) -> [UInt8] {
        var out: [UInt8] = []
        for p in protocols {
            out.append(UInt8(p.bytes.count))
            out.append(contentsOf: p.bytes)
        }
        return out
    }
}
