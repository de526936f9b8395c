internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit

#if canImport(Glibc)
import Glibc
#endif

/// What the OpenSSL backend reads off a peer's certificates: key pins, validity periods,
/// stacks as DER, and the authentication record sealed into session tickets.
enum OpenSSLPeerChain {
    /// SHA-256 of the certificate's DER SubjectPublicKeyInfo (a `TLSPublicKeyPin`).
    static func spkiSHA256(_ x509: OpaquePointer) throws(TLSError) -> [UInt8] {
        guard let key = X509_get_X509_PUBKEY(x509) else { throw TLSError(.internal, "the certificate has no public key") }
        var spki: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509_PUBKEY(key, &spki)
        guard length > 0, let spki else { throw TLSError(.internal, "i2d_X509_PUBKEY failed") }
        defer { CRYPTO_free(spki, #fileID, #line) }
        var digest = [UInt8](repeating: 0, count: 32)
        var size = 0
        guard EVP_Q_digest(nil, "SHA256", nil, spki, Int(length), &digest, &size) == 1, size == 32 else {
            throw TLSError(.internal, "SHA-256 is not available", backendErrors: OpenSSLErrorStack.drain().map(\.text))
        }
        return digest
    }

    /// The certificate's validity period, seconds since 1970.
    static func validity(_ x509: OpaquePointer) -> ClosedRange<Int64>? {
        guard let from = seconds(X509_get0_notBefore(x509)), let until = seconds(X509_get0_notAfter(x509)), from <= until
        else { return nil }
        return from...until
    }

    private static func seconds(_ time: UnsafePointer<ASN1_TIME>?) -> Int64? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Int64(timegm(&parts))
    }

    /// A stack of certificates as DER, in order.
    static func der(of stack: OpaquePointer?) -> [[UInt8]] {
        guard let stack else { return [] }
        return (0..<Int(CTLSKitOpenSSLShims_sk_X509_num(stack))).compactMap { i in
            CTLSKitOpenSSLShims_sk_X509_value(stack, Int32(i)).map { OpenSSLCertificateRef.der(of: $0) }
        }
    }

    // MARK: The authentication record in a server's session tickets

    /// Encodes when the client was verified and its verified chain, for a ticket's
    /// application data: version 1, 8 bytes of time, then each certificate with a 3-byte
    /// length. The ticket is encrypted and authenticated with the context's ticket keys.
    static func encodeTicketRecord(authenticatedAt: Int64, verification: TLSPeerVerification, chain: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = [1]
        out.append(verification == .pinned ? 1 : 0)
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: authenticatedAt >> Int64(shift))) }
        for der in chain {
            out += [UInt8(truncatingIfNeeded: der.count >> 16), UInt8(truncatingIfNeeded: der.count >> 8), UInt8(truncatingIfNeeded: der.count)]
            out += der
        }
        return out
    }

    /// Decodes a record made by ``encodeTicketRecord(authenticatedAt:verification:chain:)``;
    /// `nil` when it is missing or malformed (the ticket is then not used).
    static func decodeTicketRecord(_ bytes: UnsafeRawBufferPointer) -> (Int64, TLSPeerVerification, [[UInt8]])? {
        guard bytes.count >= 10, bytes[0] == 1 else { return nil }
        let verification: TLSPeerVerification = bytes[1] == 1 ? .pinned : .verified
        var time: Int64 = 0
        for i in 2..<10 { time = time << 8 | Int64(bytes[i]) }
        var chain: [[UInt8]] = []
        var offset = 10
        while offset < bytes.count {
            guard offset + 3 <= bytes.count else { return nil }
            let length = Int(bytes[offset]) << 16 | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
            offset += 3
            guard length > 0, offset + length <= bytes.count else { return nil }
            chain.append(Array(bytes[offset..<offset + length]))
            offset += length
        }
        return (time, verification, chain)
    }
}

extension OpenSSLClientContext: TLSResumptionClocked {
    package var resumptionClock: TLSWallClock { sessions.clock }
}

extension OpenSSLServerContext: TLSResumptionClocked {
    package var resumptionClock: TLSWallClock { clock }
}
