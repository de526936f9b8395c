internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
import TLSKit

/// What the GnuTLS backend reads off a peer's certificates: the verified path, key pins,
/// validity periods, and which CAs have a CRL.
enum GnuTLSPeerChain {
    /// An imported certificate, freed with the value.
    final class Certificate {
        let pointer: gnutls_x509_crt_t
        let der: [UInt8]

        init?(_ der: [UInt8]) {
            var cert: gnutls_x509_crt_t?
            guard gnutls_x509_crt_init(&cert) == GNUTLS_E_SUCCESS, let cert else { return nil }
            guard GnuTLSCredentials.withDatum(der, { gnutls_x509_crt_import(cert, $0, GNUTLS_X509_FMT_DER) }) == GNUTLS_E_SUCCESS
            else {
                gnutls_x509_crt_deinit(cert)
                return nil
            }
            pointer = cert
            self.der = der
        }

        deinit { gnutls_x509_crt_deinit(pointer) }

        /// Whether `issuer` names this certificate's issuer and its key verifies this
        /// certificate's signature. Only the link: `gnutls_x509_crt_verify` would also apply
        /// the issuer's name constraints and other CA checks, which are the backend's
        /// verification, already done, and would cut the path short.
        func isIssued(by issuer: gnutls_x509_crt_t) -> Bool {
            guard gnutls_x509_crt_check_issuer(pointer, issuer) == 1, let tbs = Self.tbsCertificate(der) else { return false }
            let algorithm = gnutls_x509_crt_get_signature_algorithm(pointer)
            var size = 0
            _ = gnutls_x509_crt_get_signature(pointer, nil, &size)
            guard size > 0 else { return false }
            var signature = [CChar](repeating: 0, count: size)
            guard gnutls_x509_crt_get_signature(pointer, &signature, &size) == GNUTLS_E_SUCCESS else { return false }
            let flags = UInt32(GNUTLS_VERIFY_ALLOW_SIGN_WITH_SHA1.rawValue)
            return tbs.withUnsafeBytes { tbsBytes in
                signature.withUnsafeMutableBytes { sigBytes in
                    var data = gnutls_datum_t(
                        data: UnsafeMutablePointer(mutating: tbsBytes.bindMemory(to: UInt8.self).baseAddress), size: UInt32(tbsBytes.count))
                    var sig = gnutls_datum_t(data: sigBytes.bindMemory(to: UInt8.self).baseAddress, size: UInt32(size))
                    return gnutls_x509_crt_verify_data2(issuer, gnutls_sign_algorithm_t(UInt32(algorithm)), flags, &data, &sig) >= 0
                }
            }
        }

        /// The DER of the tbsCertificate: the first element of the certificate's SEQUENCE.
        static func tbsCertificate(_ der: [UInt8]) -> [UInt8]? {
            func header(at offset: Int) -> (contentStart: Int, length: Int)? {
                guard offset + 2 <= der.count, der[offset] == 0x30 else { return nil }
                let first = Int(der[offset + 1])
                if first < 0x80 { return (offset + 2, first) }
                let count = first & 0x7f
                guard count >= 1, count <= 4, offset + 2 + count <= der.count else { return nil }
                var length = 0
                for i in 0..<count { length = length << 8 | Int(der[offset + 2 + i]) }
                return (offset + 2 + count, length)
            }
            guard let outer = header(at: 0), let inner = header(at: outer.contentStart),
                inner.contentStart + inner.length <= der.count
            else { return nil }
            return Array(der[outer.contentStart..<(inner.contentStart + inner.length)])
        }

        /// The raw DER of the issuer's name.
        var issuerName: [UInt8] {
            var datum = gnutls_datum_t()
            guard gnutls_x509_crt_get_raw_issuer_dn(pointer, &datum) == GNUTLS_E_SUCCESS, let data = datum.data else { return [] }
            defer { CTLSKitGnuTLSShims_gnutls_free(data) }  // a copy GnuTLS allocated for us
            return Array(UnsafeBufferPointer(start: data, count: Int(datum.size)))
        }
    }

    /// The path GnuTLS verified, as every backend reports it: from the leaf, each step's
    /// issuer is a trusted certificate when the trust store has one that names it and whose
    /// key verifies the signature (trusted first, as OpenSSL builds chains), otherwise one
    /// of the presented certificates with the same links; the path ends at the first trust
    /// anchor. Presented certificates that are not on the path (duplicates, extra roots,
    /// unrelated certificates) are not in it, whatever their order.
    static func verifiedPath(presented: [[UInt8]], credentials: gnutls_certificate_credentials_t) -> [[UInt8]] {
        let certificates = presented.compactMap(Certificate.init)
        guard let leaf = certificates.first else { return [] }
        var path = [leaf]
        while path.count <= 16, let current = path.last {
            var trusted: gnutls_x509_crt_t?
            if gnutls_certificate_get_issuer(credentials, current.pointer, &trusted, 0) == GNUTLS_E_SUCCESS, let trusted,
                current.isIssued(by: trusted)
            {
                let anchor = GnuTLSCertificates.der(of: trusted)
                // A certificate that is itself the trusted root ends the path.
                if anchor != current.der { path.append(Certificate(anchor) ?? current) }
                return path.map(\.der)
            }
            guard
                let next = certificates.first(where: { candidate in
                    !path.contains(where: { $0.der == candidate.der }) && current.isIssued(by: candidate.pointer)
                })
            else { break }
            path.append(next)
        }
        return path.map(\.der)
    }

    /// SHA-256 of the certificate's DER SubjectPublicKeyInfo (a `TLSPublicKeyPin`).
    static func spkiSHA256(_ der: [UInt8]) -> [UInt8]? {
        guard let cert = Certificate(der) else { return nil }
        var key: gnutls_pubkey_t?
        guard gnutls_pubkey_init(&key) == GNUTLS_E_SUCCESS, let key else { return nil }
        defer { gnutls_pubkey_deinit(key) }
        guard gnutls_pubkey_import_x509(key, cert.pointer, 0) == GNUTLS_E_SUCCESS else { return nil }
        var spki = gnutls_datum_t()
        guard gnutls_pubkey_export2(key, GNUTLS_X509_FMT_DER, &spki) == GNUTLS_E_SUCCESS, let data = spki.data else { return nil }
        defer { CTLSKitGnuTLSShims_gnutls_free(data) }
        var digest = [UInt8](repeating: 0, count: 32)
        guard gnutls_hash_fast(GNUTLS_DIG_SHA256, data, Int(spki.size), &digest) == GNUTLS_E_SUCCESS else { return nil }
        return digest
    }

    /// The certificate's validity period, seconds since 1970.
    static func validity(_ der: [UInt8]) -> ClosedRange<Int64>? {
        guard let cert = Certificate(der) else { return nil }
        let from = Int64(gnutls_x509_crt_get_activation_time(cert.pointer))
        let until = Int64(gnutls_x509_crt_get_expiration_time(cert.pointer))
        guard from >= 0, until >= from else { return nil }
        return from...until
    }

    /// The raw issuer names of the CRLs given (one entry per CRL issuer).
    static func crlIssuers(_ lists: [TLSRevocationList], field: String) throws(TLSError) -> Set<[UInt8]> {
        var issuers = Set<[UInt8]>()
        for (index, list) in lists.enumerated() {
            let (bytes, _, pem) = try list.load(field: field, index: index)
            var crls: UnsafeMutablePointer<gnutls_x509_crl_t?>?
            var count: UInt32 = 0
            let status = GnuTLSCredentials.withDatum(bytes) {
                gnutls_x509_crl_list_import2(&crls, &count, $0, pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, 0)
            }
            guard status == GNUTLS_E_SUCCESS, let crls else { continue }  // addRevocationLists reports unreadable CRLs
            defer {
                for i in 0..<Int(count) { gnutls_x509_crl_deinit(crls[i]) }
                CTLSKitGnuTLSShims_gnutls_free(crls)
            }
            for i in 0..<Int(count) {
                var datum = gnutls_datum_t()
                guard let crl = crls[i], gnutls_x509_crl_get_raw_issuer_dn(crl, &datum) == GNUTLS_E_SUCCESS, let data = datum.data
                else { continue }
                defer { CTLSKitGnuTLSShims_gnutls_free(data) }  // a copy GnuTLS allocated for us
                issuers.insert(Array(UnsafeBufferPointer(start: data, count: Int(datum.size))))
            }
        }
        return issuers
    }
}

extension GnuTLSClientContext: TLSResumptionClocked {
    package var resumptionClock: TLSWallClock { state.clock }
}

extension GnuTLSServerContext: TLSResumptionClocked {
    package var resumptionClock: TLSWallClock { state.clock }
}
