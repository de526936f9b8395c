import Crypto
import Foundation
import SwiftASN1
import TLSKit
import X509

/// The demo's throw-away PKI, made in memory: one ECDSA P-256 root and the leaves it
/// signs, valid for a day. The tool's own, so that it links no test code.
struct DemoPKI {
    private let rootKey = P256.Signing.PrivateKey()
    private let rootName: DistinguishedName
    private let rootCertificate: Certificate

    init(name: String) throws {
        rootName = try DistinguishedName { CommonName(name) }
        let key = Certificate.PrivateKey(rootKey)
        rootCertificate = try Self.sign(
            subject: rootName, publicKey: key.publicKey, issuer: rootName, issuerKey: key,
            extensions: Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            })
    }

    /// The root, as the trust store of whoever should accept the leaves.
    var trustStore: TLSTrustStore {
        get throws { .pem(try rootCertificate.serializeAsPEM().pemString) }
    }

    /// A leaf for `dnsNames` and `ipAddresses`, for TLS servers or clients, with its key.
    func leaf(commonName: String, dnsNames: [String], ipAddresses: [[UInt8]], forServers: Bool) throws -> TLSSigningChain {
        let leafKey = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(leafKey.publicKey)
        let sans =
            dnsNames.map { GeneralName.dnsName($0) }
            + ipAddresses.map { GeneralName.ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) }
        let certificate = try Self.sign(
            subject: try DistinguishedName { CommonName(commonName) }, publicKey: publicKey,
            issuer: rootName, issuerKey: Certificate.PrivateKey(rootKey),
            extensions: Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([forServers ? .serverAuth : .clientAuth])
                SubjectAlternativeNames(sans)
            })
        return TLSSigningChain(
            certificate: .pem(try certificate.serializeAsPEM().pemString),
            privateKey: .pem(leafKey.pemRepresentation))
    }

    private static func sign(
        subject: DistinguishedName, publicKey: Certificate.PublicKey, issuer: DistinguishedName,
        issuerKey: Certificate.PrivateKey, extensions: Certificate.Extensions
    ) throws -> Certificate {
        let now = Date()
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now - 300, notValidAfter: now + 86_400, issuer: issuer, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: issuerKey)
    }
}
