// The sentences every backend uses for the same failure, so that an application sees the
// same cause and fix whichever backend is underneath. `package`: for backends in this
// package, not public API.

extension TLSVerificationFailure.Reason {
    /// What to do about a rejected certificate, as a clause starting with " — ".
    package func hint(peer: String, expectedName: String?) -> String {
        switch self {
        case .hostnameMismatch:
            return " — the certificate is not valid for '\(expectedName ?? "?")'; connect with the name the "
                + "certificate was issued for (serverName) or fix its subjectAltName"
        case .unknownIssuer, .selfSigned:
            return " — its chain does not lead to a root in the trust store; trust the \(peer)'s CA "
                + "(trustStore) or have the \(peer) send its intermediates"
        case .expired: return " — the certificate has expired; renew it or check the clock"
        case .notYetValid: return " — the certificate is not valid yet; check the clock"
        case .unsuitableUsage:
            return " — its key usage or extended key usage does not allow TLS \(peer) authentication"
        case .revocationUnknown:
            return " — revocationLists must hold a current CRL from every CA of the chain, intermediates included"
        case .ocspResponseInvalid:
            return " — the \(peer) must staple a current OCSP response from its certificate's issuer (or set ocspStapling = .ignore)"
        case .ocspResponseMissing:
            return " — the \(peer) must be configured to staple an OCSP response (TLSSigningChain.ocspResponse)"
        default: return ""
        }
    }
}

extension TLSAlert {
    /// What a received alert most likely means, as a clause starting with " — ".
    package func hint(receivedBy side: TLSSide) -> String {
        switch self {
        case .unknownCA, .badCertificate, .certificateUnknown, .unsupportedCertificate:
            return " — it does not accept our certificate (signed by a CA it does not trust, expired, or not valid for the name it expected)"
        case .certificateExpired: return " — it says our certificate has expired"
        case .certificateRequired: return " — it requires a client certificate; set certificateChain"
        case .protocolVersion: return " — no TLS version in common"
        case .handshakeFailure:
            return " — no cipher suite, group or signature algorithm in common"
                + (side == .server ? "" : ", or it requires a client certificate")
        case .noApplicationProtocol: return " — no ALPN protocol in common"
        case .unrecognizedName: return " — it does not serve the name we sent (SNI)"
        case .badCertificateStatusResponse: return " — it refused the OCSP response we stapled (revoked, expired or not from our issuer)"
        case .decryptError, .badRecordMAC: return " — a message failed to decrypt or verify"
        default: return ""
        }
    }
}

extension TLSError {
    /// The peer closed the transport without close_notify.
    package static func raggedEOF(peer: String, duringHandshake: Bool, backendErrors: [String]) -> TLSError {
        if duringHandshake {
            return TLSError(
                .raggedEOF,
                "the \(peer) closed the connection during the handshake without sending an alert "
                    + "(is it speaking TLS on this port? did it refuse our parameters silently?)",
                backendErrors: backendErrors)
        }
        return TLSError(
            .raggedEOF, "the \(peer) closed the connection without close_notify; the data received may be truncated",
            backendErrors: backendErrors)
    }

    /// A server that requires client certificates got none.
    package static func clientCertificateMissing(backendText: String, backendErrors: [String]) -> TLSError {
        TLSError(
            .certificateVerification,
            "the client sent no certificate, but this server requires one (clientAuthentication is .required)",
            backendErrors: backendErrors,
            verificationFailure: TLSVerificationFailure(reason: .noCertificate, backendText: backendText))
    }

    /// No certificate could be read from `bytes`: says what the bytes look like instead.
    package static func unreadableCertificate(field: String, origin: String, bytes: [UInt8], backendErrors: [String]) -> TLSError {
        let text = String(decoding: bytes.prefix(65_536), as: UTF8.self)
        var hint = "it must hold PEM certificates (-----BEGIN CERTIFICATE-----) or one DER certificate"
        if text.contains("PRIVATE KEY-----") && !text.contains("CERTIFICATE-----") {
            hint = "it holds a private key, not a certificate: were the certificate and key swapped?"
        } else if text.contains("-----BEGIN CERTIFICATE-----") {
            hint = "the PEM block is damaged (bad base64 or a truncated certificate)"
        }
        return TLSError(
            .configuration, "\(field): no certificate could be read from \(origin): \(hint)",
            backendErrors: backendErrors, feature: field)
    }

    /// The peer spoke plain-text HTTP to a TLS port.
    package static func plainHTTP(peer: String, backendErrors: [String]) -> TLSError {
        TLSError(
            .protocolViolation, "the \(peer) sent a plain-text HTTP request, not TLS; it must connect with https://",
            backendErrors: backendErrors)
    }
}

extension String {
    /// Decodes `%XX` escapes (RFC 3986); returns the text unchanged if an escape is malformed.
    package var removingPercentEncodingIfPossible: String {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let h = iterator.next(), let l = iterator.next(),
                let value = UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else if byte == UInt8(ascii: "%") {
                return self
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension TLSVerificationFailure {
    /// The peer's key is not among the pinned ones.
    package static func notPinned(_ peerCertificates: [[UInt8]]) -> TLSVerificationFailure {
        TLSVerificationFailure(
            reason: .notPinned, backendText: "its key is not among the trust store's pinned keys",
            peerCertificates: peerCertificates)
    }

    /// The verified chain is longer than maximumChainLength allows.
    package static func chainTooLong(_ length: Int, limit: Int) -> TLSVerificationFailure {
        TLSVerificationFailure(
            reason: .chainTooLong,
            backendText: "the chain to the trust anchor has \(length) certificates, more than maximumChainLength (\(limit))")
    }
}

extension TLSError {
    /// A peer certificate that TLSKit itself rejected (pins, chain length, a policy), in the
    /// same words on every backend.
    package static func verificationRejected(
        _ failure: TLSVerificationFailure, peer: String, backendErrors: [String]
    ) -> TLSError {
        let hint: String
        switch failure.reason {
        case .notPinned:
            hint = " — check that you reached the right \(peer), or pin its current key (trustStore = .pinned(keys:))"
        case .chainTooLong: hint = " — raise maximumChainLength or have the \(peer) send a shorter chain"
        case .rejectedByHook: hint = ""
        default: hint = failure.reason.hint(peer: peer, expectedName: failure.expectedName)
        }
        return TLSError(
            .certificateVerification, "the \(peer)'s certificate was rejected: \(failure.backendText)" + hint,
            backendErrors: backendErrors, verificationFailure: failure)
    }
}

extension TLSError {
    /// No CRL could be read from a revocation list.
    package static func unreadableRevocationList(field: String, origin: String) -> TLSError {
        .configuration(field: field, "no CRL could be read from \(origin) (it must hold -----BEGIN X509 CRL----- blocks or one DER CRL)")
    }

    /// A client connection was made with no server name to verify.
    package static var serverNameMissing: TLSError {
        .configuration(
            field: "serverName",
            "a client connection needs the server's name to verify its certificate; set "
                + "TLSClientConfiguration.serverName or pass serverName: to makeConnection")
    }
}

extension TLSError {
    /// The certificate resolver answered `.reject`.
    package static func resolverRejected(_ reason: String, serverName: String?) -> TLSError {
        TLSError(
            .handshake,
            "the certificate resolver rejected the client (server name \(serverName.map { "'\($0)'" } ?? "none")): \(reason)"
                + " — the client was sent unrecognized_name",
            feature: "certificateResolver")
    }

    /// The certificate resolver returned a chain the backend could not load.
    package static func resolvedChainDidNotLoad(_ error: TLSError, serverName: String?) -> TLSError {
        TLSError(
            .configuration,
            "the chain the certificate resolver returned for server name \(serverName.map { "'\($0)'" } ?? "none") "
                + "does not load: \(error.message) — fix what certificateResolver returns; the client was sent internal_error",
            backendErrors: error.backendErrors, feature: "certificateResolver")
    }
}
