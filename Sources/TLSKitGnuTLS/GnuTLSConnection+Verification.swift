internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
import TLSKit
import TLSKitInsecure

/// Verification and resumption decisions, called by GnuTLS during the handshake.
extension GnuTLSConnection {
    /// Called by GnuTLS with the peer's certificates: verifies the chain (or compares the
    /// leaf's key with the pins), enforces the chain length and the CRLs' coverage, then
    /// runs the context's policies. 0 goes on, -1 aborts with an alert.
    func verifyPeer() -> Int32 {
        var count: UInt32 = 0
        let list = gnutls_certificate_get_peers(session, &count)
        if list == nil || count == 0 {
            if side == .server && state.clientAuthentication != .required { return 0 }
            verificationFailure = TLSVerificationFailure(
                reason: .noCertificate, backendText: "the peer sent no certificate")
            return -1
        }
        let chain = Self.certificates(list, count)
        let verification: TLSPeerVerification
        var path: [[UInt8]] = []
        var validity: ClosedRange<Int64>?
        if let pins = state.pins {
            guard let hash = GnuTLSPeerChain.spkiSHA256(chain[0]), pins.contains(hash) else {
                verificationFailure = .notPinned(chain)
                return -1
            }
            verification = .pinned
            path = [chain[0]]
        } else if state.insecure?.verifiesCertificate == false {
            verification = .insecurelySkipped
        } else {
            if var failure = verifyChain(list: list, count: count, chain: chain) {
                // GnuTLS's own staple check flags a response past its nextUpdate as
                // "superseded" (GnuTLS 3.7 always asks for one, whatever ocspStapling says).
                if failure.reason == .other, let code = failure.backendCode,
                    UInt32(truncatingIfNeeded: code) & GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED.rawValue != 0, side == .client,
                    stapledResponse() != nil
                {
                    failure.reason = .ocspResponseInvalid
                    failure.backendText = "the stapled OCSP response is out of its validity period (\(failure.backendText))"
                }
                verificationFailure = failure
                return -1
            }
            verification = .verified
            path = GnuTLSPeerChain.verifiedPath(presented: chain, credentials: state.credentials.pointer)
            validity = GnuTLSPeerChain.validity(chain[0])
            if let limit = state.maximumChainLength, path.count > limit {
                verificationFailure = .chainTooLong(path.count, limit: limit)
                verificationFailure?.peerCertificates = chain
                return -1
            }
            if side == .client, let failure = checkStaple(path: path) {
                verificationFailure = failure
                verificationFailure?.peerCertificates = chain
                return -1
            }
            if let crlIssuers = state.crlIssuers {
                // As OpenSSL with CRL_CHECK_ALL: every certificate of the path needs a CRL
                // from its issuer, or its revocation status is unknown.
                for (depth, der) in path.enumerated() {
                    guard let cert = GnuTLSPeerChain.Certificate(der), crlIssuers.contains(cert.issuerName) else {
                        verificationFailure = TLSVerificationFailure(
                            reason: .revocationUnknown,
                            backendText: "no CRL from the issuer of the certificate at depth \(depth) was given",
                            depth: depth, peerCertificates: chain)
                        return -1
                    }
                }
            }
        }
        if let checks = state.checks {
            let request = TLSPeerVerificationRequest(
                side: side, peerCertificates: chain, serverName: peerName(), applicationProtocol: alpn(),
                verifiedChain: path, backendVerification: verification)
            // Suspension: GnuTLS keeps its handshake state at the verify step when this
            // returns GNUTLS_E_AGAIN and calls it again on the next gnutls_handshake, which
            // then takes the verdict. Both sides: GnuTLS 3.7's client and server state
            // machines (TLS 1.2 and 1.3) run the verify step as a state of its own that is
            // re-entered after any negative return other than -1.
            switch suspension.run(checks, request, suspend: { true }) {
            case .rejected(let failure):
                verificationFailure = failure
                return -1
            case .pending:
                return GNUTLS_E_AGAIN
            case .accepted:
                break
            }
        }
        authentication = TLSSessionAuthentication(
            authenticatedAt: state.clock.now(), peerCertificates: chain, verifiedChain: path, verification: verification,
            validity: validity)
        return 0
    }

    /// Servers, after a resumption: GnuTLS has enforced the ticket's age; check that the
    /// client's remembered certificate is still valid and that the policies still agree.
    /// `.pending` while an asynchronous policy's verdict is awaited (GnuTLS's part of the
    /// handshake is over; the connection is not reported complete before the verdict).
    func recheckResumedClient() -> TLSCheckOutcome {
        guard state.clientAuthentication != .none else { return .accepted }
        var count: UInt32 = 0
        let chain = Self.certificates(gnutls_certificate_get_peers(session, &count), count)
        guard !chain.isEmpty else { return .accepted }
        let pinned = state.pins != nil
        let remembered = TLSSessionAuthentication(
            authenticatedAt: state.clock.now(), peerCertificates: chain,
            verifiedChain: pinned ? [chain[0]] : GnuTLSPeerChain.verifiedPath(presented: chain, credentials: state.credentials.pointer),
            verification: pinned ? .pinned : .verified, validity: pinned ? nil : GnuTLSPeerChain.validity(chain[0]))
        authentication = remembered
        func refused(_ why: String) -> TLSCheckOutcome {
            .rejected(TLSVerificationFailure(reason: .rejectedByHook, backendText: "resumption refused: \(why)", peerCertificates: chain))
        }
        if let refusal = remembered.refusal(
            now: state.clock.now(), maximumAge: state.maximumResumptionAge, verificationTime: nil, checks: nil,
            side: .server, serverName: peerName())
        {
            return refused(refusal)
        }
        guard let checks = state.checks, let request = remembered.resumptionRequest(side: .server, serverName: peerName()) else {
            return .accepted
        }
        switch suspension.run(checks, request, suspend: { true }) {
        case .rejected(let failure): return refused(failure.backendText)
        case .pending: return .pending
        case .accepted: return .accepted
        }
    }

    /// GnuTLS's own verification of the chain (and the name), as a failure or `nil`.
    func verifyChain(list: UnsafePointer<gnutls_datum_t>?, count: UInt32, chain: [[UInt8]]) -> TLSVerificationFailure? {
        guard
            let purpose = side == .client
                ? CTLSKitGnuTLSShims_GNUTLS_KP_TLS_WWW_SERVER() : CTLSKitGnuTLSShims_GNUTLS_KP_TLS_WWW_CLIENT()
        else { return TLSVerificationFailure(reason: .other, backendText: "no key purpose") }
        var status: UInt32 = 0
        var result: Int32
        let checkedName = state.insecure?.checksHostname == false ? nil : serverName
        switch checkedName?.kind {
        case .dns(let name)?:
            result = name.withCString { host in
                var data = [
                    gnutls_typed_vdata_st(
                        type: GNUTLS_DT_DNS_HOSTNAME, data: UnsafeMutableRawPointer(mutating: host).assumingMemoryBound(to: UInt8.self), size: 0),
                    gnutls_typed_vdata_st(
                        type: GNUTLS_DT_KEY_PURPOSE_OID, data: UnsafeMutableRawPointer(mutating: purpose).assumingMemoryBound(to: UInt8.self), size: 0
                    ),
                ]
                return gnutls_certificate_verify_peers(session, &data, 2, &status)
            }
            // GnuTLS falls back to the subject CN when there is no DNS subjectAltName;
            // TLSKit never does (RFC 6125 §6.4.4, CA/B Forum).
            if result == GNUTLS_E_SUCCESS, status == 0, let first = list?[0], !Self.hasDNSName(first) {
                status = GNUTLS_CERT_INVALID.rawValue | GNUTLS_CERT_UNEXPECTED_OWNER.rawValue
            }
        case .ipAddress(var bytes)?:
            result = bytes.withUnsafeMutableBufferPointer { ip in
                var data = [
                    gnutls_typed_vdata_st(type: GNUTLS_DT_IP_ADDRESS, data: ip.baseAddress, size: UInt32(ip.count)),
                    gnutls_typed_vdata_st(
                        type: GNUTLS_DT_KEY_PURPOSE_OID, data: UnsafeMutableRawPointer(mutating: purpose).assumingMemoryBound(to: UInt8.self), size: 0
                    ),
                ]
                return gnutls_certificate_verify_peers(session, &data, 2, &status)
            }
        case nil:
            var data = [
                gnutls_typed_vdata_st(
                    type: GNUTLS_DT_KEY_PURPOSE_OID, data: UnsafeMutableRawPointer(mutating: purpose).assumingMemoryBound(to: UInt8.self), size: 0)
            ]
            result = gnutls_certificate_verify_peers(session, &data, 1, &status)
        }
        if result != GNUTLS_E_SUCCESS {
            return TLSVerificationFailure(
                reason: .other, backendCode: Int(result), backendText: String(cString: gnutls_strerror(result)),
                peerCertificates: chain)
        }
        if status != 0 {
            var failure = GnuTLSFailure.verificationFailure(
                status: status, expectedName: serverName?.description, peers: list, count: count)
            failure.peerCertificates = chain
            return failure
        }
        return nil
    }

    static func hasDNSName(_ der: gnutls_datum_t) -> Bool {
        var cert: gnutls_x509_crt_t?
        gnutls_x509_crt_init(&cert)
        guard let cert else { return false }
        defer { gnutls_x509_crt_deinit(cert) }
        var datum = der
        guard gnutls_x509_crt_import(cert, &datum, GNUTLS_X509_FMT_DER) == GNUTLS_E_SUCCESS else { return false }
        var buffer = [UInt8](repeating: 0, count: 1024)
        for index in 0..<UInt32(1024) {
            var size = buffer.count
            let type = gnutls_x509_crt_get_subject_alt_name(cert, index, &buffer, &size, nil)
            if type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE { return false }
            if type == Int32(GNUTLS_SAN_DNSNAME.rawValue) { return true }
        }
        return false
    }
}
