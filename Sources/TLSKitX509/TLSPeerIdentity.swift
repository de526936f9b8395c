import Crypto
import SwiftASN1
public import TLSKit
public import X509

extension TLSVerificationPolicy {
    /// Accepts a peer only when its leaf certificate matches at least one of `patterns`:
    /// mutual TLS identities without hand parsing, e.g.
    /// `[try TLSPeerIdentityPattern("dns:*.fleet.example"), try TLSPeerIdentityPattern("spiffe://prod.example/*")]`.
    /// It runs after the backend verified the chain (a CA vouches for the names), and
    /// composes with other policies.
    public static func allowPeers(_ patterns: [TLSPeerIdentityPattern]) -> TLSVerificationPolicy {
        let list = patterns.map(\.description).joined(separator: ", ")
        return TLSVerificationPolicy(name: "allowPeers") { request in
            guard let der = request.peerCertificates.first, let leaf = try? Certificate(derEncoded: der) else {
                return .reject("the peer's certificate cannot be parsed")
            }
            if patterns.contains(where: { $0.matches(leaf) }) { return .accept }
            return .reject("the peer (\(TLSPeerIdentityPattern.summary(of: leaf))) matches none of the allowed identities: \(list)")
        }
    }
}

extension TLSPeerIdentityPattern {
    /// Whether `certificate` matches this pattern (see `TLSPeerIdentityPattern`).
    public func matches(_ certificate: Certificate) -> Bool {
        let sans = Array((try? certificate.extensions.subjectAlternativeNames) ?? SubjectAlternativeNames([]))
        switch kind {
        case .dns:
            return sans.contains { if case .dnsName(let name) = $0 { return matchesDNSName(name) } else { return false } }
        case .ip:
            return sans.contains { if case .ipAddress(let octets) = $0 { return Array(octets.bytes) == ipAddress } else { return false } }
        case .uri:
            return sans.contains { if case .uniformResourceIdentifier(let uri) = $0 { return uri == value } else { return false } }
        case .email:
            return sans.contains { name in
                guard case .rfc822Name(let address) = name, let at = address.lastIndex(of: "@") else { return false }
                return String(address[..<at]) + "@" + address[address.index(after: at)...].lowercased() == value
            }
        case .spiffe:
            let uris = sans.compactMap { name -> String? in
                if case .uniformResourceIdentifier(let uri) = name { return uri } else { return nil }
            }
            return matchesSPIFFE(uriNames: uris)
        case .subject:
            guard let attribute, let oid = Self.attributeOIDs[attribute] else { return false }
            return certificate.subject.contains { rdn in
                rdn.contains { $0.type == oid && String(describing: $0.value) == value }
            }
        }
    }

    static let attributeOIDs: [String: ASN1ObjectIdentifier] = [
        "cn": [2, 5, 4, 3], "o": [2, 5, 4, 10], "ou": [2, 5, 4, 11], "c": [2, 5, 4, 6], "l": [2, 5, 4, 7],
        "st": [2, 5, 4, 8], "serial": [2, 5, 4, 5], "dc": [0, 9, 2342, 19_200_300, 100, 1, 25],
        "uid": [0, 9, 2342, 19_200_300, 100, 1, 1],
    ]

    /// The subject and subjectAltNames, for error messages.
    static func summary(of certificate: Certificate) -> String {
        let sans = Array((try? certificate.extensions.subjectAlternativeNames) ?? SubjectAlternativeNames([]))
        let names = sans.map { name -> String in
            switch name {
            case .dnsName(let n): return "dns:\(n)"
            case .ipAddress(let o): return "ip:" + (TLSServerName.ipAddressText(Array(o.bytes)) ?? "?")
            case .uniformResourceIdentifier(let u): return "uri:\(u)"
            case .rfc822Name(let e): return "email:\(e)"
            default: return "\(name)"
            }
        }
        return "subject \(certificate.subject)" + (names.isEmpty ? "" : ", " + names.joined(separator: ", "))
    }
}

extension TLSPublicKeyPin {
    /// The pin of a certificate's key: SHA-256 of its DER SubjectPublicKeyInfo.
    public init(certificateDER der: [UInt8]) throws {
        let certificate = try Certificate(derEncoded: der)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate.publicKey)
        try self.init(sha256: Array(SHA256.hash(data: serializer.serializedBytes)))
    }
}
