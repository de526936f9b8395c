import SwiftASN1
import TLSKit
import X509

/// The Web PKI profile's common-name rule (CABF BR 7.1.4.3): a leaf's common name, if it has
/// one, must be a character-for-character copy of one of its subjectAltNames — for an IP
/// address, the RFC 3986 (IPv4) or RFC 5952 (IPv6) text of the iPAddress entry.
///
/// The profile enforces the part of the rule that catches a common name that differs from
/// the subjectAltName it stands for: a common name that is not ASCII (a dNSName is), one that
/// is an IP address written otherwise than the iPAddress entry's text (hexadecimal, leading
/// zeros, upper case, not compressed), and one that is a subjectAltName in other letter case.
/// A common name naming something else entirely is not rejected: verifiers never read it
/// (only subjectAltNames name the server), and x509-limbo itself, whose cases this rule is
/// measured on, issues such leaves (common name "example.com" beside unrelated
/// subjectAltNames) in cases that must verify.
enum TLSWebPKICommonName {
    /// Why `commonName` breaks the rule, or `nil`.
    static func problem(commonName: String?, subjectAltNames: SubjectAlternativeNames) -> String? {
        guard let commonName else { return "the common name is not a PrintableString or UTF8String" }
        var dnsNames: [String] = []
        var addresses: [String] = []
        for name in subjectAltNames {
            switch name {
            case .dnsName(let dns): dnsNames.append(dns)
            case .ipAddress(let octets):
                if let text = TLSServerName.ipAddressText(Array(octets.bytes)) { addresses.append(text) }
            default: break
            }
        }
        if dnsNames.contains(commonName) || addresses.contains(commonName) { return nil }
        if !commonName.unicodeScalars.allSatisfy(\.isASCII) {
            return "the common name \(commonName) is not ASCII, so it is not a copy of a subjectAltName"
        }
        if looksLikeIPAddress(commonName) {
            return "the common name \(commonName) is an IP address but not the text of an iPAddress subjectAltName"
        }
        if let match = dnsNames.first(where: { $0.lowercased() == commonName.lowercased() }) {
            return "the common name \(commonName) is not a character-for-character copy of the subjectAltName \(match)"
        }
        return nil
    }

    /// Whether `text` is an IP address in any of the forms resolvers accept: IPv6 (any case
    /// or compression) or IPv4 with one to four decimal or 0x-hexadecimal parts.
    static func looksLikeIPAddress(_ text: String) -> Bool {
        let hexDigits = Set("0123456789abcdefABCDEF")
        if text.contains(":") {
            return text.allSatisfy { hexDigits.contains($0) || $0 == ":" || $0 == "." }
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return false }
        return parts.allSatisfy { part in
            if part.hasPrefix("0x") || part.hasPrefix("0X") {
                let digits = part.dropFirst(2)
                return !digits.isEmpty && digits.allSatisfy { hexDigits.contains($0) }
            }
            return !part.isEmpty && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
        }
    }
}
