public import Foundation
import SwiftASN1
public import TLSKit
public import X509

// The bridge from TLSKit's DER certificates to swift-certificates' `Certificate`. The core
// never parses certificates; this module does, for inspection and reports.

extension TLSConnectionInfo {
    /// The peer's certificates as presented, parsed, leaf first.
    public func parsedPeerCertificates() throws -> [Certificate] {
        try peerCertificates.map { try Certificate(derEncoded: $0) }
    }

    /// The chain as verified, parsed, leaf first and ending at the trust anchor.
    public func parsedVerifiedChain() throws -> [Certificate] {
        try verifiedChain.map { try Certificate(derEncoded: $0) }
    }
}

extension TLSVerificationFailure {
    /// The rejected peer's leaf certificate, parsed (`nil` if it sent none or it cannot be
    /// parsed).
    public var leafCertificate: Certificate? {
        peerCertificates.first.flatMap { try? Certificate(derEncoded: $0) }
    }

    /// The names the rejected leaf is valid for: its DNS and IP subjectAltNames.
    public var presentedNames: [String] { leafCertificate.map(TLSCertificateNames.names(of:)) ?? [] }

    /// The rejected leaf's notAfter.
    public var leafNotAfter: Date? { leafCertificate?.notValidAfter }

    /// The rejected leaf's notBefore.
    public var leafNotBefore: Date? { leafCertificate?.notValidBefore }

    /// The issuer of the last certificate the peer presented (the one whose issuer could
    /// not be found, for `Reason.unknownIssuer`).
    public var unresolvedIssuer: String? {
        peerCertificates.last.flatMap { try? Certificate(derEncoded: $0) }.map { "\($0.issuer)" }
    }

    /// One line for people: the reason with the facts behind it, e.g.
    /// `expired: notAfter 2026-11-28T14:00:00Z, checked at 2026-11-29T15:00:00Z`.
    public func explanation(verificationTime: Date = Date()) -> String {
        let iso = ISO8601DateFormatter()
        switch reason {
        case .expired:
            return "expired: notAfter \(leafNotAfter.map(iso.string(from:)) ?? "?"), checked at \(iso.string(from: verificationTime))"
        case .notYetValid:
            return "not yet valid: notBefore \(leafNotBefore.map(iso.string(from:)) ?? "?"), checked at \(iso.string(from: verificationTime))"
        case .hostnameMismatch:
            let names = presentedNames
            return
                "hostname mismatch: expected \(expectedName ?? "?"), the certificate names \(names.isEmpty ? "nothing (no subjectAltName)" : names.joined(separator: ", "))"
        case .unknownIssuer:
            return "unknown issuer: no trusted root for \(unresolvedIssuer ?? "?")"
        case .selfSigned:
            return "self-signed certificate \(leafCertificate.map { "\($0.subject)" } ?? "") is not trusted"
        case .rejectedByHook:
            return "rejected by \(backendText)"
        default:
            return "\(reason): \(backendText)"
        }
    }
}

/// Reads names out of certificates.
public enum TLSCertificateNames {
    /// The DNS and IP subjectAltNames of `certificate`, as text (`DNS:…`, `IP:…`).
    public static func names(of certificate: Certificate) -> [String] {
        guard let sans = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return sans.compactMap { name -> String? in
            switch name {
            case .dnsName(let dns): return "DNS:\(dns)"
            case .ipAddress(let octets): return "IP:" + (TLSServerName.ipAddressText(Array(octets.bytes)) ?? "?")
            default: return nil
            }
        }
    }
}
