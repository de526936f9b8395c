internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
import TLSKit

/// Translates GnuTLS error codes into `TLSError` with messages a person can act on.
enum GnuTLSFailure {
    enum Phase { case handshake, read, write, shutdown }

    static func internalError(_ function: String, _ status: Int32) -> TLSError {
        TLSError(.internal, "\(function) failed: \(String(cString: gnutls_strerror(status)))")
    }

    static func make(
        status: Int32, phase: Phase, side: TLSSide, receivedAlert: TLSAlert?,
        verification: TLSVerificationFailure?, inputEnded: Bool, firstBytes: [UInt8]
    ) -> TLSError {
        let peer = side == .client ? "server" : "client"
        let text = String(cString: gnutls_strerror(status))
        let stack = ["\(gnutls_strerror_name(status).map { String(cString: $0) } ?? "\(status)"): \(text)"]

        if let verification {
            if verification.reason == .noCertificate {
                return .clientCertificateMissing(backendText: verification.backendText, backendErrors: stack)
            }
            if verification.reason == .rejectedByHook {
                return TLSError(
                    .certificateVerification,
                    "the \(peer)'s certificate was rejected by this context's verification hook: \(verification.backendText)",
                    backendErrors: stack, verificationFailure: verification)
            }
            return TLSError(
                .certificateVerification,
                "the \(peer)'s certificate was rejected: \(verification.backendText)"
                    + verification.reason.hint(peer: peer, expectedName: verification.expectedName),
                backendErrors: stack, verificationFailure: verification)
        }
        let start = String(decoding: firstBytes, as: UTF8.self)
        if ["GET ", "POST", "HEAD", "PUT ", "OPTI", "CONN", "DELE", "PATC"].contains(where: start.hasPrefix) {
            return .plainHTTP(peer: peer, backendErrors: stack)
        }
        switch status {
        case GNUTLS_E_PK_SIGN_FAILED:
            if let signer = GnuTLSSigner.takeFailure() {
                return TLSError(
                    .handshake, "the TLS handshake with the \(peer) failed because this side's key could not sign: \(signer)",
                    backendErrors: stack)
            }
            return TLSError(.handshake, "the TLS handshake with the \(peer) failed: this side's key could not sign (\(text))", backendErrors: stack)
        case GNUTLS_E_NO_CERTIFICATE_FOUND where side == .server, GNUTLS_E_CERTIFICATE_REQUIRED where side == .server:
            return .clientCertificateMissing(backendText: text, backendErrors: stack)
        case GNUTLS_E_PREMATURE_TERMINATION:
            return .raggedEOF(peer: peer, duringHandshake: phase == .handshake, backendErrors: stack)
        case GNUTLS_E_UNEXPECTED_PACKET_LENGTH where inputEnded:
            return .raggedEOF(peer: peer, duringHandshake: phase == .handshake, backendErrors: stack)
        case GNUTLS_E_FATAL_ALERT_RECEIVED, GNUTLS_E_WARNING_ALERT_RECEIVED:
            let alert = receivedAlert ?? TLSAlert(rawValue: 255)
            return TLSError(
                .alertReceived, "the \(peer) aborted the connection with alert '\(alert)'" + alert.hint(receivedBy: side),
                backendErrors: stack, alert: alert)
        case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
            return TLSError(
                .handshake, "no TLS version in common with the \(peer); check minimumVersion/maximumVersion on both sides",
                backendErrors: stack, alert: .protocolVersion)
        case GNUTLS_E_NO_CIPHER_SUITES, GNUTLS_E_UNKNOWN_CIPHER_SUITE, GNUTLS_E_INSUFFICIENT_CREDENTIALS:
            return TLSError(
                .handshake,
                "no cipher suite or protocol version in common with the \(peer) (GnuTLS does not tell which); "
                    + "check cipherSuites, minimumVersion/maximumVersion and securityPolicy on both sides",
                backendErrors: stack, alert: .handshakeFailure)
        case GNUTLS_E_NO_COMMON_KEY_SHARE, GNUTLS_E_ECC_NO_SUPPORTED_CURVES:
            return TLSError(
                .handshake, "no key-exchange group in common with the \(peer); check keyExchangeGroups",
                backendErrors: stack, alert: .handshakeFailure)
        case GNUTLS_E_NO_APPLICATION_PROTOCOL:
            return TLSError(
                .handshake, "no ALPN protocol in common with the \(peer); check applicationProtocols on both sides",
                backendErrors: stack, alert: .noApplicationProtocol)
        case GNUTLS_E_UNEXPECTED_PACKET_LENGTH, GNUTLS_E_UNEXPECTED_PACKET, GNUTLS_E_UNEXPECTED_HANDSHAKE_PACKET,
            GNUTLS_E_DECRYPTION_FAILED, GNUTLS_E_RECORD_OVERFLOW, GNUTLS_E_UNSUPPORTED_VERSION_PACKET - 1000,
            GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER, GNUTLS_E_RECEIVED_ILLEGAL_EXTENSION, GNUTLS_E_ILLEGAL_PARAMETER,
            GNUTLS_E_UNEXPECTED_EXTENSIONS_LENGTH, GNUTLS_E_MAC_VERIFY_FAILED, GNUTLS_E_DECOMPRESSION_FAILED:
            return TLSError(
                .protocolViolation,
                "the \(peer) sent bytes that are not valid TLS (\(text)); is it speaking TLS on this port?",
                backendErrors: stack)
        default:
            if phase == .handshake {
                return TLSError(.handshake, "the TLS handshake with the \(peer) failed: \(text)", backendErrors: stack)
            }
            return TLSError(.protocolViolation, "the connection with the \(peer) failed: \(text)", backendErrors: stack)
        }
    }

    static func verificationFailure(
        status: UInt32, expectedName: String?, peers: UnsafePointer<gnutls_datum_t>?, count: UInt32
    ) -> TLSVerificationFailure {
        func has(_ flag: gnutls_certificate_status_t) -> Bool { status & flag.rawValue != 0 }
        let reason: TLSVerificationFailure.Reason
        if has(GNUTLS_CERT_REVOKED) {
            reason = .revoked
        } else if has(GNUTLS_CERT_EXPIRED) {
            reason = .expired
        } else if has(GNUTLS_CERT_NOT_ACTIVATED) {
            reason = .notYetValid
        } else if has(GNUTLS_CERT_SIGNER_NOT_FOUND) {
            reason = isSelfSigned(peers, count) ? .selfSigned : .unknownIssuer
        } else if has(GNUTLS_CERT_SIGNATURE_FAILURE) {
            reason = .badSignature
        } else if has(GNUTLS_CERT_PURPOSE_MISMATCH) || has(GNUTLS_CERT_SIGNER_NOT_CA) || has(GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE) {
            reason = .unsuitableUsage
        } else if has(GNUTLS_CERT_INSECURE_ALGORITHM) {
            reason = .weakKeyOrAlgorithm
        } else if has(GNUTLS_CERT_UNEXPECTED_OWNER) {
            reason = .hostnameMismatch
        } else if has(GNUTLS_CERT_MISSING_OCSP_STATUS) {
            reason = .ocspResponseMissing
        } else if has(GNUTLS_CERT_INVALID_OCSP_STATUS) {
            reason = .ocspResponseInvalid
        } else {
            reason = .other
        }
        var out = gnutls_datum_t()
        var text = "verification status 0x\(String(status, radix: 16))"
        if gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == GNUTLS_E_SUCCESS,
            let data = out.data
        {
            text = String(decoding: UnsafeBufferPointer(start: data, count: Int(out.size)), as: UTF8.self)
            CTLSKitGnuTLSShims_gnutls_free(data)
        }
        if reason == .hostnameMismatch { text = "hostname mismatch (\(text))" }
        return TLSVerificationFailure(
            reason: reason, backendCode: Int(status), backendText: text,
            expectedName: reason == .hostnameMismatch ? expectedName : nil)
    }

    private static func isSelfSigned(_ peers: UnsafePointer<gnutls_datum_t>?, _ count: UInt32) -> Bool {
        guard let peers, count == 1 else { return false }
        var cert: gnutls_x509_crt_t?
        gnutls_x509_crt_init(&cert)
        guard let cert else { return false }
        defer { gnutls_x509_crt_deinit(cert) }
        var datum = peers[0]
        guard gnutls_x509_crt_import(cert, &datum, GNUTLS_X509_FMT_DER) == GNUTLS_E_SUCCESS else { return false }
        return gnutls_x509_crt_check_issuer(cert, cert) != 0
    }

}
