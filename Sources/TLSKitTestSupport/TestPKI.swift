import Crypto
public import Foundation
import SwiftASN1
public import TLSKit
public import X509
import _CryptoExtras

/// A throw-away public-key infrastructure made in memory with swift-certificates: roots,
/// intermediates, server and client certificates, with the names, dates and key types a
/// test asks for. Nothing is written to disk unless a test asks for files.
public enum TestPKI {
    /// The key algorithm of a generated identity.
    public enum KeyType: String, Sendable, CaseIterable, CustomStringConvertible {
        case p256
        case rsa2048
        public var description: String { rawValue }

        func generate() throws -> Certificate.PrivateKey {
            switch self {
            case .p256: return Certificate.PrivateKey(P256.Signing.PrivateKey())
            case .rsa2048: return Certificate.PrivateKey(try RSAKeyPool.next())
            }
        }
    }

    /// What a certificate may be used for.
    public enum Usage: Sendable {
        case server, client, both, none
    }

    /// A certificate with its private key, in the forms a test needs.
    public struct Identity: Sendable {
        /// The parsed certificate.
        public let certificate: Certificate
        /// The private key (only for tests; real keys should not live here).
        public let privateKey: Certificate.PrivateKey
        /// Issuer certificates to send with this one (intermediates), closest first.
        public let intermediates: [Certificate]

        /// The certificate in PEM.
        public var certificatePEM: String { (try? certificate.serializeAsPEM().pemString) ?? "" }
        /// The certificate in DER.
        public var certificateDER: [UInt8] {
            var serializer = DER.Serializer()
            try? serializer.serialize(certificate)
            return serializer.serializedBytes
        }
        /// The private key in PEM (PKCS#8).
        public var privateKeyPEM: String { (try? privateKey.serializeAsPEM().pemString) ?? "" }
        /// The leaf followed by its intermediates, in PEM.
        public var chainPEM: String {
            ([certificate] + intermediates).compactMap { try? $0.serializeAsPEM().pemString }.joined(separator: "\n")
        }

        /// This identity as a TLSKit signing chain (PEM bytes in memory).
        public var signingChain: TLSSigningChain {
            TLSSigningChain(
                certificate: .pem(certificatePEM),
                privateKey: .pem(privateKeyPEM),
                intermediates: intermediates.compactMap { try? TLSCertificate.pem($0.serializeAsPEM().pemString) })
        }

        /// This certificate as a trust store (for self-signed roots).
        public var trustStore: TLSTrustStore { .pem(certificatePEM) }

        /// Writes `cert.pem` (chain), `key.pem` and returns their paths.
        public func write(to directory: URL, name: String) throws -> (certificate: String, key: String) {
            let certPath = directory.appendingPathComponent("\(name).pem").path
            let keyPath = directory.appendingPathComponent("\(name).key").path
            try chainPEM.write(toFile: certPath, atomically: true, encoding: .utf8)
            try privateKeyPEM.write(toFile: keyPath, atomically: true, encoding: .utf8)
            return (certPath, keyPath)
        }
    }

    /// A certificate authority that can issue certificates.
    public struct Authority: Sendable {
        /// The CA's own identity.
        public let identity: Identity
        /// The CA's certificate as a trust store.
        public var trustStore: TLSTrustStore { .pem(identity.certificatePEM) }
        /// The CA's certificate in PEM.
        public var certificatePEM: String { identity.certificatePEM }

        /// Makes a self-signed root.
        public static func root(
            name: String = "TLSKit Test Root", keyType: KeyType = .p256,
            notBefore: Date = Date().addingTimeInterval(-3600), notAfter: Date = Date().addingTimeInterval(86_400 * 365)
        ) throws -> Authority {
            let key = try keyType.generate()
            let subject = try DistinguishedName {
                CommonName(name)
                OrganizationName("TLSKit tests")
            }
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            }
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
                notValidBefore: notBefore, notValidAfter: notAfter, issuer: subject, subject: subject,
                signatureAlgorithm: signatureAlgorithm(for: key), extensions: extensions, issuerPrivateKey: key)
            return Authority(identity: Identity(certificate: certificate, privateKey: key, intermediates: []))
        }

        /// Issues an intermediate CA under this one.
        public func intermediate(name: String = "TLSKit Test Intermediate", keyType: KeyType = .p256) throws -> Authority {
            let key = try keyType.generate()
            let subject = try DistinguishedName {
                CommonName(name)
                OrganizationName("TLSKit tests")
            }
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
                AuthorityKeyIdentifier(keyIdentifier: try identity.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
            }
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
                notValidBefore: identity.certificate.notValidBefore, notValidAfter: identity.certificate.notValidAfter,
                issuer: identity.certificate.subject, subject: subject,
                signatureAlgorithm: signatureAlgorithm(for: identity.privateKey), extensions: extensions,
                issuerPrivateKey: identity.privateKey)
            return Authority(
                identity: Identity(
                    certificate: certificate, privateKey: key,
                    intermediates: [identity.certificate] + identity.intermediates.dropLast(0)))
        }

        /// Issues an end-entity certificate.
        ///
        /// - Parameters:
        ///   - commonName: the subject CN (never used for name checks by TLSKit).
        ///   - dnsNames: DNS subjectAltNames.
        ///   - ipAddresses: IP subjectAltNames as text (`127.0.0.1`, `::1`).
        ///   - usage: which extended key usages to include.
        public func issue(
            commonName: String = "localhost",
            dnsNames: [String] = ["localhost"],
            ipAddresses: [String] = ["127.0.0.1"],
            keyType: KeyType = .p256,
            usage: Usage = .both,
            notBefore: Date = Date().addingTimeInterval(-3600),
            notAfter: Date = Date().addingTimeInterval(86_400 * 30),
            otherNames: [GeneralName] = []
        ) throws -> Identity {
            let key = try keyType.generate()
            let subject = try DistinguishedName {
                CommonName(commonName)
                OrganizationName("TLSKit tests")
            }
            var names: [GeneralName] = dnsNames.map { .dnsName($0) } + otherNames
            for ip in ipAddresses {
                let parsed = try TLSServerName(ip)
                guard let bytes = parsed.ipAddress else { continue }
                names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
            }
            let ekus: [ExtendedKeyUsage.Usage]
            switch usage {
            case .server: ekus = [.serverAuth]
            case .client: ekus = [.clientAuth]
            case .both: ekus = [.serverAuth, .clientAuth]
            case .none: ekus = []
            }
            let issuerKeyID = try identity.certificate.extensions.subjectKeyIdentifier?.keyIdentifier
            let isRSA = keyType == .rsa2048
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: isRSA))
                if !ekus.isEmpty { try ExtendedKeyUsage(ekus) }
                if !names.isEmpty { SubjectAlternativeNames(names) }
                AuthorityKeyIdentifier(keyIdentifier: issuerKeyID)
            }
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
                notValidBefore: notBefore, notValidAfter: notAfter, issuer: identity.certificate.subject,
                subject: subject, signatureAlgorithm: signatureAlgorithm(for: identity.privateKey),
                extensions: extensions, issuerPrivateKey: identity.privateKey)
            // Intermediates to send: this CA if it is not a root, then its own intermediates.
            let isRoot = identity.certificate.issuer == identity.certificate.subject
            let chain = isRoot ? [] : [identity.certificate] + identity.intermediates.filter { $0.issuer != $0.subject }
            return Identity(certificate: certificate, privateKey: key, intermediates: chain)
        }
    }

    /// A self-signed end-entity certificate (not a CA), as a misconfigured server has.
    public static func selfSignedLeaf(commonName: String = "localhost", dnsNames: [String] = ["localhost"]) throws -> Identity {
        let key = try KeyType.p256.generate()
        let subject = try DistinguishedName { CommonName(commonName) }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(dnsNames.map { .dnsName($0) })
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(86_400 * 30),
            issuer: subject, subject: subject, signatureAlgorithm: signatureAlgorithm(for: key),
            extensions: extensions, issuerPrivateKey: key)
        return Identity(certificate: certificate, privateKey: key, intermediates: [])
    }

    static func signatureAlgorithm(for key: Certificate.PrivateKey) -> Certificate.SignatureAlgorithm {
        key.publicKey.description.contains("RSA") ? .sha256WithRSAEncryption : .ecdsaWithSHA256
    }
}

/// RSA-2048 key generation takes tens of milliseconds; tests reuse a few keys.
enum RSAKeyPool {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var keys: [_RSA.Signing.PrivateKey] = []
    nonisolated(unsafe) private static var index = 0

    static func next() throws -> _RSA.Signing.PrivateKey {
        lock.lock()
        defer { lock.unlock() }
        if keys.count < 4 {
            let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            keys.append(key)
            return key
        }
        index += 1
        return keys[index % keys.count]
    }
}
