#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The name a client expects the server to prove: a DNS name or an IP address,
/// validated once when it is made ("parse, don't validate").
///
/// A DNS name is sent as SNI and checked against the certificate's DNS subjectAltNames
/// (wildcards in the left-most label only; the subject common name is never used). An IP
/// address is not sent as SNI (RFC 6066 forbids it) and is checked against the
/// certificate's IP subjectAltNames.
public struct TLSServerName: Hashable, Sendable, CustomStringConvertible {
    /// The two kinds of name.
    public enum Kind: Hashable, Sendable {
        /// A DNS host name, lower-cased, without a trailing dot.
        case dns(String)
        /// An IPv4 (4 bytes) or IPv6 (16 bytes) address.
        case ipAddress([UInt8])
    }

    /// Which kind of name this is, with its normalised value.
    public let kind: Kind

    /// Parses a host name or an IP address literal.
    ///
    /// IPv6 literals may be written with or without brackets. Internationalised names must
    /// be given in their ASCII (punycode, `xn--…`) form.
    ///
    /// - Throws: ``TLSError/Code/configuration`` naming what is wrong with the text.
    public init(_ text: String) throws(TLSError) {
        var t = text
        if t.hasPrefix("["), t.hasSuffix("]") { t = String(t.dropFirst().dropLast()) }
        if let address = Self.parseIP(t) {
            kind = .ipAddress(address)
            return
        }
        kind = .dns(try Self.validateDNS(text))
    }

    /// A DNS name, if this is one.
    public var dnsName: String? {
        if case .dns(let name) = kind { return name }
        return nil
    }

    /// The address bytes, if this is an IP address.
    public var ipAddress: [UInt8]? {
        if case .ipAddress(let bytes) = kind { return bytes }
        return nil
    }

    /// The text form of a 4- or 16-byte IP address (`127.0.0.1`, `::1`); `nil` for other
    /// lengths. Handy for printing IP subjectAltNames.
    public static func ipAddressText(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        return format(bytes)
    }

    /// The DNS name, or the address in its usual text form.
    public var description: String {
        switch kind {
        case .dns(let name): return name
        case .ipAddress(let bytes): return Self.format(bytes)
        }
    }

    // MARK: - Parsing

    static func parseIP(_ text: String) -> [UInt8]? {
        // inet_pton reads a C string: a NUL would end the text early ("127.0.0.1\0.evil").
        guard !text.utf8.contains(0) else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func format(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        guard ok else { return bytes.map { String($0) }.joined(separator: ".") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func validateDNS(_ text: String) throws(TLSError) -> String {
        var name = text.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        func fail(_ why: String) -> TLSError {
            TLSError.configuration(field: "serverName", "'\(text)' is not a valid host name: \(why)")
        }
        guard !name.isEmpty else { throw fail("it is empty") }
        // "127.0.0.1." or "10.1": an address (or something that looks like one), not a host
        // name; as a DNS name it would go out as SNI, which RFC 6066 forbids for addresses.
        if parseIP(name) != nil || name.split(separator: ".").last?.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) == true {
            throw fail("it looks like an IP address, and a host name's last label is never all digits; give the address without a trailing dot")
        }
        guard name.utf8.count <= 253 else { throw fail("it is longer than 253 characters") }
        guard name.unicodeScalars.allSatisfy({ $0.isASCII }) else {
            throw fail("it contains non-ASCII characters; give internationalised names in punycode (xn--…)")
        }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty else { throw fail("it has an empty label") }
            guard label.utf8.count <= 63 else { throw fail("the label '\(label)' is longer than 63 characters") }
            guard label.utf8.allSatisfy({ isLDH($0) }) else {
                throw fail("the label '\(label)' has characters other than letters, digits, '-' and '_'")
            }
            guard label.first != "-", label.last != "-" else {
                throw fail("the label '\(label)' starts or ends with '-'")
            }
        }
        return name
    }

    private static func isLDH(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F
    }
}
