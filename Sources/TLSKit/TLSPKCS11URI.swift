/// A `pkcs11:` URI (RFC 7512) as the backends need it: the object's URI without its PIN,
/// and the PIN, if the URI carries one as `pin-value`.
///
/// One parser for every backend: OpenSSL's ENGINE route hands the PIN over through its own
/// control (libp11 prints the URIs it fails to load), the store listing adds a given PIN to
/// the URI, and GnuTLS reads it from the URI. `package`: not public API.
package struct TLSPKCS11URI: Sendable {
    /// The URI with every `pin-value` attribute removed (path `;` or query `?`/`&`).
    package let withoutPIN: String
    /// The `pin-value`, percent-decoded; the last one when the URI carries several.
    package let pin: String?

    /// Parses `text`; `nil` unless it starts with `pkcs11:` (any case).
    package init?(_ text: String) {
        guard text.utf8.count >= 7, text.prefix(7).lowercased() == "pkcs11:" else { return nil }
        var pin: String?
        func strip(_ part: Substring, separator: Character) -> String {
            part.split(separator: separator, omittingEmptySubsequences: false).filter { item in
                guard item.lowercased().hasPrefix("pin-value=") else { return true }
                pin = String(item.dropFirst("pin-value=".count)).removingPercentEncodingIfPossible
                return false
            }.joined(separator: String(separator))
        }
        let halves = text.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = strip(halves[0], separator: ";")
        let query = halves.count == 2 ? strip(halves[1], separator: "&") : ""
        withoutPIN = query.isEmpty ? path : path + "?" + query
        self.pin = pin
    }

    /// Whether the URI carried a PIN.
    package var hasPIN: Bool { pin != nil }

    /// The URI with `pin` as its `pin-value` query attribute, percent-encoded so that no
    /// character of the PIN can end the attribute or start another.
    package func adding(pin: TLSSecureBytes) -> String {
        var encoded = ""
        pin.withUnsafeBytes { raw in
            for byte in raw {
                if Self.isUnreserved(byte) {
                    encoded.unicodeScalars.append(Unicode.Scalar(byte))
                } else {
                    let hex = String(byte, radix: 16, uppercase: true)
                    encoded += "%" + (hex.count == 1 ? "0" + hex : hex)
                }
            }
        }
        return withoutPIN + (withoutPIN.contains("?") ? "&" : "?") + "pin-value=" + encoded
    }

    /// RFC 3986 unreserved characters: the only ones left as they are.
    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
