internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit

#if canImport(Glibc)
import Glibc
#endif

/// OCSP stapling on the OpenSSL backend: servers staple the response of the chain their
/// `SSL_CTX` presents; clients ask for one and check it once the chain has been verified.
enum OpenSSLOCSP {
    /// Checks, when a context is built, that `response` is a successful OCSP response with
    /// an answer about `leaf` (by serial number), so a server never staples one for the
    /// wrong certificate.
    static func checkResponse(_ response: [UInt8], for leaf: OpenSSLCertificateRef, field: String) throws(TLSError) {
        func refuse(_ why: String) -> TLSError {
            TLSError(
                .configuration, "\(field): \(why); staple the response `openssl ocsp` gave for this certificate",
                backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: field)
        }
        guard let parsed = parse(response) else { throw refuse("not a DER OCSP response") }
        defer { OCSP_RESPONSE_free(parsed) }
        guard OCSP_response_status(parsed) == OCSP_RESPONSE_STATUS_SUCCESSFUL else {
            throw refuse("the OCSP response is not a successful one (status \(OCSP_response_status(parsed)))")
        }
        guard let basic = OCSP_response_get1_basic(parsed) else { throw refuse("the OCSP response has no basic response") }
        defer { OCSP_BASICRESP_free(basic) }
        let serial = X509_get0_serialNumber(leaf.pointer)
        for index in 0..<OCSP_resp_count(basic) {
            guard let single = OCSP_resp_get0(basic, index), let id = OCSP_SINGLERESP_get0_id(single) else { continue }
            var answered: UnsafeMutablePointer<ASN1_INTEGER>?
            guard OCSP_id_get0_info(nil, nil, nil, &answered, id) == 1, let answered else { continue }
            if ASN1_INTEGER_cmp(answered, serial) == 0 { return }
        }
        throw refuse("the OCSP response is not about this chain's leaf certificate (no answer for its serial number)")
    }

    static func parse(_ der: [UInt8]) -> OpaquePointer? {
        der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_OCSP_RESPONSE(nil, &cursor, buffer.count)
        }
    }

    /// Whether the certificate carries the TLS Feature extension with status_request.
    static func isMustStaple(_ certificate: OpaquePointer) -> Bool {
        let index = X509_get_ext_by_NID(certificate, NID_tlsfeature, -1)
        guard index >= 0, let ext = X509_get_ext(certificate, index), let data = X509_EXTENSION_get_data(ext),
            let bytes = ASN1_STRING_get0_data(data)
        else { return false }
        return TLSMustStaple.requiresStaple(featuresDER: Array(UnsafeBufferPointer(start: bytes, count: Int(ASN1_STRING_length(data)))))
    }
}

/// Servers: staples the response of the `SSL_CTX` the connection ended up on (the arg is
/// its handle), when the client asked for one.
let serverStatusCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { ssl, arg in
    guard let ssl, let arg else { return SSL_TLSEXT_ERR_NOACK }
    let handle = Unmanaged<OpenSSLContextHandle>.fromOpaque(arg).takeUnretainedValue()
    guard let response = handle.ocspResponse, CTLSKitOpenSSLShims_SSL_get_tlsext_status_type(ssl) == CTLSKitOpenSSLShims_TLSEXT_STATUSTYPE_ocsp()
    else { return SSL_TLSEXT_ERR_NOACK }
    // OpenSSL takes ownership of an OPENSSL_malloc'd copy.
    guard let copy = CTLSKitOpenSSLShims_OPENSSL_malloc(response.count)?.assumingMemoryBound(to: UInt8.self) else {
        return SSL_TLSEXT_ERR_NOACK
    }
    copy.initialize(from: response, count: response.count)
    _ = CTLSKitOpenSSLShims_SSL_set_tlsext_status_ocsp_resp(ssl, copy, response.count)
    return SSL_TLSEXT_ERR_OK
}

/// Clients: checks what the server stapled, after the chain was verified. 1 goes on, 0
/// fails the handshake with bad_certificate_status_response.
let clientStatusCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { ssl, _ in
    guard let ssl, let connection = OpenSSLConnection.from(ssl) else { return 0 }
    return connection.checkStapledResponse()
}

extension OpenSSLConnection {
    func checkStapledResponse() -> Int32 {
        // A resumed session presents no certificate: the full handshake's check stands.
        if SSL_session_reused(ssl) == 1 { return 1 }
        var bytes: UnsafePointer<UInt8>?
        let length = CTLSKitOpenSSLShims_SSL_get_tlsext_status_ocsp_resp(ssl, &bytes)
        let stapled = length > 0 ? bytes.map { Array(UnsafeBufferPointer(start: $0, count: length)) } : nil
        // OCSP is about CA-issued chains. With pinned keys (where .require is refused when
        // the context is built) or TLSKitInsecure, nothing is checked and nothing is shown.
        // The certificates OpenSSL already holds: parsing them again from DER took 15% of a
        // whole ECDSA handshake (Benchmarks/run.py --check).
        guard let authentication, authentication.verification == .verified, let leaf = SSL_get0_peer_certificate(ssl),
            let verifiedChain = SSL_get0_verified_chain(ssl)
        else { return 1 }
        let mustStaple = OpenSSLOCSP.isMustStaple(leaf)
        let required = mustStaple || ocspStapling == .require
        guard let stapled else {
            guard required else { return 1 }
            stapleFailure = TLSError.stapleMissing(mustStaple: mustStaple)
            return 0
        }
        guard CTLSKitOpenSSLShims_sk_X509_num(verifiedChain) >= 2, let issuer = CTLSKitOpenSSLShims_sk_X509_value(verifiedChain, 1)
        else {
            // The leaf is itself a trust anchor: there is no issuer to check a response against.
            return required
                ? fail(.ocspResponseInvalid, "the server's certificate is itself a trust anchor: no issuer to verify its OCSP response") : 1
        }
        guard let response = OpenSSLOCSP.parse(stapled) else { return fail(.ocspResponseInvalid, "the stapled OCSP response is not DER") }
        defer { OCSP_RESPONSE_free(response) }
        guard OCSP_response_status(response) == OCSP_RESPONSE_STATUS_SUCCESSFUL, let basic = OCSP_response_get1_basic(response) else {
            return fail(.ocspResponseInvalid, "the stapled OCSP response is not a successful one")
        }
        defer { OCSP_BASICRESP_free(basic) }
        // The signer must be the issuer or a responder it delegated to (RFC 6960 §4.2.2.2),
        // chained to our trust store; the verified chain supplies the intermediates.
        ERR_clear_error()
        let store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl))
        guard OCSP_basic_verify(basic, verifiedChain, store, 0) == 1 else {
            return fail(
                .ocspResponseInvalid,
                "the stapled OCSP response is not signed by the certificate's issuer or a responder it authorised ("
                    + (OpenSSLErrorStack.drain().last?.text ?? "no detail") + ")")
        }
        // Every answer about this leaf counts (each with its own CertID hash): all must be
        // current and "good".
        var answers = 0
        for index in 0..<OCSP_resp_count(basic) {
            guard let single = OCSP_resp_get0(basic, index), let id = OCSP_SINGLERESP_get0_id(single) else { continue }
            var hash: OpaquePointer?
            guard OCSP_id_get0_info(nil, &hash, nil, nil, id) == 1, let hash, let md = EVP_get_digestbyname(OBJ_nid2sn(OBJ_obj2nid(hash))),
                let mine = OCSP_cert_to_id(md, leaf, issuer)
            else { continue }
            defer { OCSP_CERTID_free(mine) }
            guard OCSP_id_cmp(mine, id) == 0 else { continue }
            answers += 1
            var reason: Int32 = -1
            var revokedAt: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
            var thisUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
            var nextUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
            let status = OCSP_single_get0_status(single, &reason, &revokedAt, &thisUpdate, &nextUpdate)
            // Five minutes of clock skew either way; without a nextUpdate, at most 7 days old.
            guard OCSP_check_validity(thisUpdate, nextUpdate, 300, nextUpdate == nil ? 7 * 86_400 : -1) == 1 else {
                ERR_clear_error()
                return fail(.ocspResponseInvalid, "the stapled OCSP response is out of its validity period (thisUpdate/nextUpdate)")
            }
            switch status {
            case V_OCSP_CERTSTATUS_GOOD: continue
            case V_OCSP_CERTSTATUS_REVOKED: return fail(.revoked, "the stapled OCSP response says the server's certificate is revoked")
            default: return fail(.revocationUnknown, "the stapled OCSP response says the server's certificate is unknown to the responder")
            }
        }
        guard answers > 0 else { return fail(.ocspResponseInvalid, "the stapled OCSP response has no answer about the server's certificate") }
        stapledResponse = stapled
        return 1
    }

    private func fail(_ reason: TLSVerificationFailure.Reason, _ text: String) -> Int32 {
        stapleFailure = TLSVerificationFailure(reason: reason, backendText: text)
        return 0
    }
}
