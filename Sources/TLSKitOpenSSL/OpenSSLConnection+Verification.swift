internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit
import TLSKitInsecure

/// Verification and resumption decisions, called from OpenSSL's callbacks during the
/// handshake (see OpenSSLCallbacks.swift).
extension OpenSSLConnection {
    /// Called from the certificate-verify callback with the peer's certificates: verifies
    /// the chain with OpenSSL (or compares the leaf's key with the pins), enforces the chain
    /// length, then runs the context's policies. Returns 1 to go on, 0 to abort with an
    /// alert (the socket is always in SSL_VERIFY_PEER mode, so 0 is honoured).
    func verifyPeerChain(_ storeContext: OpaquePointer) -> Int32 {
        let presented = OpenSSLPeerChain.der(of: X509_STORE_CTX_get0_untrusted(storeContext))
        guard let leaf = X509_STORE_CTX_get0_cert(storeContext) else { return 0 }
        let peerCertificates = presented.isEmpty ? [OpenSSLCertificateRef.der(of: leaf)] : presented
        func reject(_ failure: TLSVerificationFailure, code: Int32) -> Int32 {
            ownFailure = failure
            rejectedChain = peerCertificates
            X509_STORE_CTX_set_error(storeContext, code)
            return 0
        }
        let verification: TLSPeerVerification
        var verifiedChain: [[UInt8]] = []
        var validity: ClosedRange<Int64>?
        if let pins = handle.pins {
            guard let hash = try? OpenSSLPeerChain.spkiSHA256(leaf), pins.contains(hash) else {
                return reject(.notPinned(peerCertificates), code: X509_V_ERR_APPLICATION_VERIFICATION)
            }
            verification = .pinned
            verifiedChain = [OpenSSLCertificateRef.der(of: leaf)]
        } else if insecure?.verifiesCertificate == false {
            verification = .insecurelySkipped
        } else {
            guard X509_verify_cert(storeContext) == 1 else {
                rejectedChain = peerCertificates
                return 0
            }
            verification = .verified
            verifiedChain = OpenSSLPeerChain.der(of: X509_STORE_CTX_get0_chain(storeContext))
            validity = OpenSSLPeerChain.validity(leaf)
            if let limit = handle.maximumChainLength, verifiedChain.count > limit {
                return reject(.chainTooLong(verifiedChain.count, limit: limit), code: X509_V_ERR_CERT_CHAIN_TOO_LONG)
            }
        }
        if let checks = handle.checks {
            let request = TLSPeerVerificationRequest(
                side: side, peerCertificates: peerCertificates, serverName: peerName(), applicationProtocol: alpn(),
                verifiedChain: verifiedChain, backendVerification: verification)
            // Suspension: OpenSSL 3.0 retries verification only on clients (a server's state
            // machine would take the 1 below as an acceptance), so servers wait here instead.
            // SSL_MODE_ASYNC with ASYNC_pause_job() from here was considered and refused: it
            // runs all of SSL_do_handshake (our signer, resolver, key-log and verify callbacks,
            // providers) on a 32 KiB fibre stack with no guard page that 3.0 cannot enlarge
            // (ASYNC_set_mem_functions is 3.2+); and a job's fibre keeps the async context of
            // the thread it first ran on (async_start_func), so a job resumed on another thread
            // (TLSStream's queue) would return to that thread's stack when it finishes.
            let ssl = self.ssl
            let isClient = side == .client
            switch suspension.run(checks, request, suspend: { isClient && CTLSKitOpenSSLShims_SSL_set_retry_verify(ssl) == 1 }) {
            case .rejected(let failure):
                return reject(failure, code: X509_V_ERR_APPLICATION_VERIFICATION)
            case .pending:
                // With retry-verify set, 1 makes SSL_do_handshake return
                // SSL_ERROR_WANT_RETRY_VERIFY; the next call verifies again and takes the verdict.
                return 1
            case .accepted:
                break
            }
        }
        authentication = TLSSessionAuthentication(
            authenticatedAt: clock.now(), peerCertificates: peerCertificates, verifiedChain: verifiedChain,
            verification: verification, validity: validity)
        return 1
    }

    /// Servers, when a ticket is sealed: the record of when the client was verified. A
    /// ticket issued on a resumed connection keeps the original record, so renewing a
    /// ticket never extends how long the session may be resumed.
    func sealTicketAuthentication() -> Int32 {
        guard let session = SSL_get_session(ssl) else { return 0 }
        var existing: UnsafeMutableRawPointer?
        var existingLength = 0
        if SSL_SESSION_get0_ticket_appdata(session, &existing, &existingLength) == 1, existing != nil, existingLength > 0 {
            return 1  // a resumed session: its record travels on unchanged
        }
        let record = OpenSSLPeerChain.encodeTicketRecord(
            authenticatedAt: authentication?.authenticatedAt ?? clock.now(),
            verification: authentication?.verification ?? .verified, chain: authentication?.verifiedChain ?? [])
        return record.withUnsafeBytes { SSL_SESSION_set1_ticket_appdata(session, $0.baseAddress, $0.count) }
    }

    /// Servers, when a ticket came back: whether to resume it (otherwise the handshake is
    /// a full one, with every check).
    func mayResume(_ session: OpaquePointer) -> Bool {
        var data: UnsafeMutableRawPointer?
        var length = 0
        guard SSL_SESSION_get0_ticket_appdata(session, &data, &length) == 1, let data,
            let (time, verification, chain) = OpenSSLPeerChain.decodeTicketRecord(UnsafeRawBufferPointer(start: data, count: length))
        else { return false }
        let peer = SSL_SESSION_get0_peer(session)
        let remembered = TLSSessionAuthentication(
            authenticatedAt: time, peerCertificates: chain.isEmpty ? peer.map { [OpenSSLCertificateRef.der(of: $0)] } ?? [] : chain,
            verifiedChain: chain, verification: verification,
            validity: verification == .verified ? peer.flatMap(OpenSSLPeerChain.validity) : nil)
        let refusal = remembered.refusal(
            now: clock.now(), maximumAge: handle.maximumResumptionAge, verificationTime: handle.verificationTime,
            checks: handle.checks, side: .server, serverName: peerName())
        guard refusal == nil else { return false }
        authentication = remembered
        return true
    }
}
