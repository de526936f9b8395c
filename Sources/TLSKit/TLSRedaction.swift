/// Hides secrets that can travel inside identifier URIs before they are shown to people.
///
/// A `pkcs11:` URI may carry the token PIN as `pin-value=…` (RFC 7512). Every description,
/// error message and key listing passes identifiers through ``redactingPIN(_:)``;
/// `pin-source=…` (where the PIN comes from) is not a secret and stays visible.
package enum TLSRedaction {
    /// What a PIN is replaced with.
    package static let placeholder = "***"

    /// Replaces the value of every `pin-value` attribute in `text` with `***`.
    ///
    /// Matches the attribute name case-insensitively and in percent-encoded form (also
    /// encoded more than once, e.g. `pin%252Dvalue%253D…` inside another URI), with `=` or
    /// `%3D`. The value runs to the next `;`, `&`, `?`, `#`, quote, angle bracket or white
    /// space, or to the end: a character that might belong to the PIN is hidden rather than
    /// shown. Idempotent: `redactingPIN(redactingPIN(x)) == redactingPIN(x)`. Works on
    /// whole messages as well as on single URIs.
    package static func redactingPIN(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if let valueStart = matchAttribute(bytes, at: i) {
                output.append(contentsOf: bytes[i..<valueStart])
                output.append(contentsOf: placeholder.utf8)
                var end = valueStart
                while end < bytes.count, !isValueTerminator(bytes[end]) { end += 1 }
                i = end
            } else {
                output.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static let name = Array("pin-value".utf8)

    /// If `pin-value=` (in any spelling above) starts at `start`, the index after the `=`.
    private static func matchAttribute(_ bytes: [UInt8], at start: Int) -> Int? {
        var i = start
        for expected in name {
            guard let (byte, next) = decodedByte(bytes, at: i), lowercased(byte) == expected else { return nil }
            i = next
        }
        guard let (equals, next) = decodedByte(bytes, at: i), equals == UInt8(ascii: "=") else { return nil }
        return next
    }

    /// The byte at `i`, percent-decoded (repeatedly: `%252D` is `-`), and the index after it.
    private static func decodedByte(_ bytes: [UInt8], at i: Int) -> (UInt8, Int)? {
        guard i < bytes.count else { return nil }
        guard bytes[i] == UInt8(ascii: "%") else { return (bytes[i], i + 1) }
        // `%XY`, where the decoded byte may itself be `%` followed by two more hex digits.
        var index = i + 1
        var percentDepth = 1
        while true {
            guard index + 1 < bytes.count, let high = hexValue(bytes[index]), let low = hexValue(bytes[index + 1]) else {
                return percentDepth == 1 && index == i + 1 ? (bytes[i], i + 1) : nil
            }
            let value = high << 4 | low
            index += 2
            if value == UInt8(ascii: "%") {
                percentDepth += 1
                continue
            }
            return (value, index)
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    /// Bytes that cannot be part of a PIN in a URI or that end a URI inside a message.
    private static func isValueTerminator(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: ";"), UInt8(ascii: "&"), UInt8(ascii: "?"), UInt8(ascii: "#"),
            UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "<"), UInt8(ascii: ">"),
            UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
            return true
        default:
            return false
        }
    }
}
