internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit

/// One entry of OpenSSL's per-thread error queue.
struct OpenSSLErrorEntry {
    let code: UInt
    let library: Int32
    let reason: Int32
    let text: String
    /// The entry's own text (`ERR_raise_data`), redacted, when it has one.
    var data: String? = nil
}

/// Reads OpenSSL's error queue. The queue is per thread: clear it before a call and drain
/// it right after, with no suspension point in between.
enum OpenSSLErrorStack {
    /// Empties the queue before a call whose result `SSL_get_error` will read (a stale entry
    /// left by other code on this thread would make it report `SSL_ERROR_SSL`). Looks first:
    /// `ERR_clear_error` resets all 16 slots, about 880 instructions, before every record.
    static func clearBeforeCall() {
        if ERR_peek_error() != 0 { ERR_clear_error() }
    }

    /// Removes and returns every entry, oldest first.
    static func drain() -> [OpenSSLErrorEntry] {
        var entries: [OpenSSLErrorEntry] = []
        while true {
            var data: UnsafePointer<CChar>?
            var flags: Int32 = 0
            let code = ERR_get_error_all(nil, nil, nil, &data, &flags)
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            var text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            var own: String?
            if let data, flags & ERR_TXT_STRING != 0, data.pointee != 0 {
                own = TLSRedaction.redactingPIN(String(cString: data))
                text += " (\(String(cString: data)))"
            }
            // Error data can quote an identifier (a store that fell back to a file path
            // prints "calling stat(pkcs11:…?pin-value=…)"): never let a PIN through.
            entries.append(
                OpenSSLErrorEntry(
                    code: code, library: ERR_GET_LIB(code), reason: ERR_GET_REASON(code),
                    text: TLSRedaction.redactingPIN(text), data: own))
        }
        return entries
    }
}

/// Translates a failed libssl call into a `TLSError` with a message a person can act on.
struct OpenSSLFailure {
    enum Phase { case handshake, read, write, shutdown }

    /// No version, suite, group, ALPN protocol or signature algorithm in common: the
    /// sentence naming the settings to check, and the alert the peer gets.
    private static func negotiationFailure(_ reason: Int32, peer: String) -> (String, TLSAlert)? {
        switch reason {
        case SSL_R_UNSUPPORTED_PROTOCOL, SSL_R_NO_PROTOCOLS_AVAILABLE, SSL_R_VERSION_TOO_LOW,
            SSL_R_VERSION_TOO_HIGH, SSL_R_WRONG_SSL_VERSION:
            return ("no TLS version in common with the \(peer); check minimumVersion/maximumVersion on both sides", .protocolVersion)
        case SSL_R_NO_SHARED_CIPHER, SSL_R_NO_CIPHERS_AVAILABLE:
            return ("no cipher suite in common with the \(peer); check cipherSuites and securityPolicy", .handshakeFailure)
        case SSL_R_NO_SHARED_GROUPS, SSL_R_NO_SUITABLE_KEY_SHARE:
            return ("no key-exchange group in common with the \(peer); check keyExchangeGroups", .handshakeFailure)
        case SSL_R_NO_APPLICATION_PROTOCOL:
            return ("no ALPN protocol in common with the \(peer); check applicationProtocols on both sides", .noApplicationProtocol)
        case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM, SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
            return ("no signature algorithm in common with the \(peer) for this certificate's key", .handshakeFailure)
        default:
            return nil
        }
    }

    static func make(
        sslError: Int32,
        entries: [OpenSSLErrorEntry],
        verifyResult: Int,
        phase: Phase,
        side: TLSSide,
        expectedName: String?,
        hookRejection: String? = nil
    ) -> TLSError {
        let stack = entries.map(\.text)
        let peer = side == .client ? "server" : "client"
        let sslReasons = entries.filter { $0.library == ERR_LIB_SSL }.map(\.reason)

        // 0. The TPM ran out of object slots. OpenSSL 3.0 fetches the peer's signature
        //    verification with the same property query as our own signing (the SSL_CTX's),
        //    so with '?tpm2.signature' the peer's public keys and digests are loaded into the
        //    TPM too; a TPM reached without a resource manager has 3 slots, and libssl then
        //    reports only "bad signature".
        if let tpm = tpmObjectMemoryError(entries) {
            return TLSError(
                .handshake,
                "the TPM ran out of object slots (TPM_RC_OBJECT_MEMORY: \(tpm)): with the tpm2 provider's "
                    + "signatures preferred ('?tpm2.signature'), OpenSSL 3.0 also verifies the \(peer)'s signatures in "
                    + "the TPM, and a TPM reached without a resource manager has only 3 object slots; reach it through "
                    + "a resource manager: the kernel's /dev/tpmrm0 "
                    + "(OpenSSLProvider.tpm2(tcti: \"device:/dev/tpmrm0\")) or tpm2-abrmd (tcti: \"tabrmd:bus_type=system\")",
                backendErrors: stack)
        }

        // A TLSSigner (this side's key) failed or returned a signature that does not verify.
        if let signer = entries.first(where: { $0.library == ERR_LIB_USER && ($0.data?.hasPrefix("signer '") ?? false) })?.data {
            return TLSError(
                .handshake, "the TLS handshake with the \(peer) failed because this side's key could not sign: \(signer)",
                backendErrors: stack)
        }

        // 1. The peer's certificate failed verification.
        if let hookRejection, verifyResult == Int(X509_V_ERR_APPLICATION_VERIFICATION) {
            return TLSError(
                .certificateVerification,
                "the \(peer)'s certificate was rejected by this context's verification hook: \(hookRejection)",
                backendErrors: stack,
                verificationFailure: TLSVerificationFailure(
                    reason: .rejectedByHook, backendCode: verifyResult, backendText: hookRejection))
        }
        if sslReasons.contains(SSL_R_CERTIFICATE_VERIFY_FAILED), verifyResult != Int(X509_V_OK) {
            let failure = verificationFailure(code: verifyResult, expectedName: expectedName)
            return TLSError(
                .certificateVerification,
                "the \(peer)'s certificate was rejected: \(failure.backendText)"
                    + failure.reason.hint(peer: peer, expectedName: expectedName),
                backendErrors: stack, verificationFailure: failure)
        }
        if sslReasons.contains(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
            return .clientCertificateMissing(backendText: "peer did not return a certificate", backendErrors: stack)
        }
        // 2. The peer ended the connection without close_notify.
        if sslReasons.contains(SSL_R_UNEXPECTED_EOF_WHILE_READING)
            || (sslError == SSL_ERROR_SYSCALL && entries.isEmpty)
        {
            return .raggedEOF(peer: peer, duringHandshake: phase == .handshake, backendErrors: stack)
        }
        // 3. The peer sent an alert.
        if let alertReason = sslReasons.first(where: { $0 >= SSL_AD_REASON_OFFSET }) {
            let alert = TLSAlert(rawValue: UInt8(truncatingIfNeeded: alertReason - SSL_AD_REASON_OFFSET))
            return TLSError(
                .alertReceived,
                "the \(peer) aborted the connection with alert '\(alert)'" + alert.hint(receivedBy: side),
                backendErrors: stack, alert: alert)
        }
        // 4. Negotiation failures.
        for reason in sslReasons {
            if let (sentence, alert) = negotiationFailure(reason, peer: peer) {
                return TLSError(.handshake, sentence, backendErrors: stack, alert: alert)
            }
            switch reason {
            case SSL_R_HTTP_REQUEST, SSL_R_HTTPS_PROXY_REQUEST:
                return .plainHTTP(peer: peer, backendErrors: stack)
            case SSL_R_WRONG_VERSION_NUMBER, SSL_R_PACKET_LENGTH_TOO_LONG, SSL_R_RECORD_LENGTH_MISMATCH,
                SSL_R_UNEXPECTED_MESSAGE, SSL_R_UNEXPECTED_RECORD, SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC,
                SSL_R_LENGTH_MISMATCH, SSL_R_BAD_PACKET_LENGTH, SSL_R_ENCRYPTED_LENGTH_TOO_LONG,
                SSL_R_LENGTH_TOO_SHORT, SSL_R_BAD_LENGTH, SSL_R_BAD_RECORD_TYPE, SSL_R_DATA_LENGTH_TOO_LONG,
                SSL_R_BAD_HANDSHAKE_LENGTH, SSL_R_BAD_EXTENSION:
                return TLSError(
                    .protocolViolation,
                    "the \(peer) sent bytes that are not valid TLS (\(entries.last?.text ?? "malformed record")); "
                        + "is it speaking TLS on this port?",
                    backendErrors: stack)
            default:
                continue
            }
        }
        let last = entries.last?.text ?? "SSL error \(sslError)"
        switch phase {
        case .handshake:
            return TLSError(.handshake, "the TLS handshake with the \(peer) failed: \(last)", backendErrors: stack)
        case .read, .write, .shutdown:
            return TLSError(.protocolViolation, "the connection with the \(peer) failed: \(last)", backendErrors: stack)
        }
    }

    /// The first entry that says the TPM had no free object slot (TPM_RC_OBJECT_MEMORY,
    /// 0x902, as tpm2-openssl and the TSS report it), or `nil`.
    static func tpmObjectMemoryError(_ entries: [OpenSSLErrorEntry]) -> String? {
        entries.first { entry in
            // libssl's own entries (the usual failure: a peer's EOF or alert) never carry it;
            // skipping them keeps the common error path free of string searches.
            guard entry.library != ERR_LIB_SSL else { return false }
            let text = entry.text.lowercased()
            return text.contains("out of memory for object contexts") || text.contains("tpm_rc_object_memory")
        }?.text
    }

    static func verificationFailure(code: Int, expectedName: String?) -> TLSVerificationFailure {
        let text = String(cString: X509_verify_cert_error_string(code))
        let reason: TLSVerificationFailure.Reason
        switch Int32(code) {
        case X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CRL_HAS_EXPIRED: reason = .expired
        case X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CRL_NOT_YET_VALID: reason = .notYetValid
        case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH, X509_V_ERR_EMAIL_MISMATCH:
            reason = .hostnameMismatch
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
            X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_CERT_UNTRUSTED:
            reason = .unknownIssuer
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: reason = .selfSigned
        case X509_V_ERR_CERT_SIGNATURE_FAILURE, X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
            reason = .badSignature
        case X509_V_ERR_INVALID_PURPOSE, X509_V_ERR_KEYUSAGE_NO_CERTSIGN, X509_V_ERR_INVALID_CA:
            reason = .unsuitableUsage
        case X509_V_ERR_CERT_REVOKED: reason = .revoked
        case X509_V_ERR_UNABLE_TO_GET_CRL: reason = .revocationUnknown
        case X509_V_ERR_CERT_CHAIN_TOO_LONG, X509_V_ERR_PATH_LENGTH_EXCEEDED: reason = .chainTooLong
        case X509_V_ERR_EE_KEY_TOO_SMALL, X509_V_ERR_CA_KEY_TOO_SMALL, X509_V_ERR_CA_MD_TOO_WEAK:
            reason = .weakKeyOrAlgorithm
        default: reason = .other
        }
        return TLSVerificationFailure(
            reason: reason, backendCode: code, backendText: text,
            expectedName: reason == .hostnameMismatch ? expectedName : nil)
    }

}
