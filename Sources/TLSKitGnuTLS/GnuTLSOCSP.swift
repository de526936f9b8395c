internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
import TLSKit

#if canImport(Glibc)
import Glibc
#endif

/// OCSP stapling on the GnuTLS backend. Servers: GnuTLS staples the response set on the
/// chain's credentials (it checks that the response is about the leaf). Clients: GnuTLS's
/// own check in `gnutls_certificate_verify_peers` ignores an expired response; TLSKit checks
/// the staple itself after the chain, with the same rules as the OpenSSL backend.
extension GnuTLSConnection {
    /// The OCSP response the server stapled in this handshake, if any (GnuTLS keeps it).
    func stapledResponse() -> [UInt8]? {
        var datum = gnutls_datum_t()
        guard gnutls_ocsp_status_request_get(session, &datum) == GNUTLS_E_SUCCESS, datum.size > 0, let data = datum.data else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: Int(datum.size)))
    }

    /// The stapled response's verdict for the verified `path` (leaf first), or `nil` when
    /// the handshake may go on; a response that verified is kept in ``verifiedStaple``.
    func checkStaple(path: [[UInt8]]) -> TLSVerificationFailure? {
        guard state.ocspStapling != .ignore, let first = path.first, let leaf = GnuTLSPeerChain.Certificate(first) else { return nil }
        let mustStaple = Self.isMustStaple(leaf.pointer)
        let required = mustStaple || state.ocspStapling == .require
        guard let stapled = stapledResponse() else { return required ? TLSError.stapleMissing(mustStaple: mustStaple) : nil }
        func invalid(_ text: String) -> TLSVerificationFailure { TLSVerificationFailure(reason: .ocspResponseInvalid, backendText: text) }
        guard path.count >= 2, let issuer = GnuTLSPeerChain.Certificate(path[1]) else {
            // The leaf is itself a trust anchor: there is no issuer to check a response against.
            return required ? invalid("the server's certificate is itself a trust anchor: no issuer to verify its OCSP response") : nil
        }
        var made: gnutls_ocsp_resp_t?
        guard gnutls_ocsp_resp_init(&made) == GNUTLS_E_SUCCESS, let response = made else { return invalid("out of memory") }
        defer { gnutls_ocsp_resp_deinit(response) }
        guard GnuTLSCredentials.withDatum(stapled, { gnutls_ocsp_resp_import(response, $0) }) == GNUTLS_E_SUCCESS else {
            return invalid("the stapled OCSP response is not DER")
        }
        guard gnutls_ocsp_resp_get_status(response) == Int32(GNUTLS_OCSP_RESP_SUCCESSFUL.rawValue) else {
            return invalid("the stapled OCSP response is not a successful one")
        }
        // Signed by the issuer, or by a responder the issuer delegated to (RFC 6960 §4.2.2.2).
        var verify: UInt32 = 0
        guard gnutls_ocsp_resp_verify_direct(response, issuer.pointer, &verify, 0) == GNUTLS_E_SUCCESS, verify == 0 else {
            return invalid(
                "the stapled OCSP response is not signed by the certificate's issuer or a responder it authorised (status 0x\(String(verify, radix: 16)))"
            )
        }
        // Every answer about this leaf counts: all must be current and "good".
        var answers = 0
        let now = time(nil)
        for index: UInt32 in 0..<64 {
            var status: UInt32 = 0
            var thisUpdate: time_t = 0
            var nextUpdate: time_t = 0
            var revokedAt: time_t = 0
            var reason: UInt32 = 0
            let got = gnutls_ocsp_resp_get_single(response, index, nil, nil, nil, nil, &status, &thisUpdate, &nextUpdate, &revokedAt, &reason)
            if got == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE { break }
            guard got == GNUTLS_E_SUCCESS else { return invalid("the stapled OCSP response's answers do not parse") }
            guard gnutls_ocsp_resp_check_crt(response, index, leaf.pointer) == GNUTLS_E_SUCCESS else { continue }
            answers += 1
            // Five minutes of clock skew either way; without a nextUpdate, at most 7 days old.
            let current = thisUpdate <= now + 300 && (nextUpdate == -1 ? thisUpdate >= now - 7 * 86_400 : nextUpdate >= now - 300)
            guard current else { return invalid("the stapled OCSP response is out of its validity period (thisUpdate/nextUpdate)") }
            switch status {
            case UInt32(GNUTLS_OCSP_CERT_GOOD.rawValue): continue
            case UInt32(GNUTLS_OCSP_CERT_REVOKED.rawValue):
                return TLSVerificationFailure(reason: .revoked, backendText: "the stapled OCSP response says the server's certificate is revoked")
            default:
                return TLSVerificationFailure(
                    reason: .revocationUnknown, backendText: "the stapled OCSP response says the server's certificate is unknown to the responder")
            }
        }
        guard answers > 0 else { return invalid("the stapled OCSP response has no answer about the server's certificate") }
        verifiedStaple = stapled
        return nil
    }

    /// Whether the certificate carries the TLS Feature extension with status_request.
    static func isMustStaple(_ certificate: gnutls_x509_crt_t) -> Bool {
        var value = gnutls_datum_t()
        var critical: UInt32 = 0
        guard gnutls_x509_crt_get_extension_by_oid2(certificate, TLSMustStaple.oid, 0, &value, &critical) == GNUTLS_E_SUCCESS,
            let data = value.data
        else { return false }
        defer { CTLSKitGnuTLSShims_gnutls_free(data) }
        return TLSMustStaple.requiresStaple(featuresDER: Array(UnsafeBufferPointer(start: data, count: Int(value.size))))
    }
}

extension GnuTLSCredentials {
    /// Servers: the OCSP response GnuTLS staples for this credentials' (only) chain.
    func setStapledResponse(_ response: [UInt8], field: String) throws(TLSError) {
        let status = GnuTLSCredentials.withDatum(response) { datum in
            gnutls_certificate_set_ocsp_status_request_mem(pointer, datum, 0, GNUTLS_X509_FMT_DER)
        }
        // The number of responses loaded, or an error.
        guard status < 0 else { return }
        let why: String
        switch status {
        case GNUTLS_E_OCSP_MISMATCH_WITH_CERTS: why = "the OCSP response is not about this chain's leaf certificate"
        // GnuTLS counts a response that says "revoked" as expired too.
        case GNUTLS_E_EXPIRED: why = "the OCSP response is past its nextUpdate, or says the certificate is revoked"
        default: why = "GnuTLS refused the OCSP response (\(String(cString: gnutls_strerror(status))))"
        }
        throw TLSError(.configuration, "\(field): \(why); staple a current response `openssl ocsp` gave for this certificate", feature: field)
    }
}
