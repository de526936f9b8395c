internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import Logging
import TLSKit
import TLSKitInsecure

enum OpenSSLContextBuilder {
    /// Creates and configures an `SSL_CTX` (everything but credentials and verification).
    static func make(
        _ library: OpenSSLLibraryContext, _ s: OpenSSLContextSettings, hooks: TLSContextHooks = TLSContextHooks()
    ) throws(TLSError) -> OpenSSLContextDraft {
        ERR_clear_error()
        let method = s.side == .client ? TLS_client_method() : TLS_server_method()
        guard let ctx = SSL_CTX_new_ex(library.pointer, library.propertyQuery, method) else {
            throw TLSError(
                .internal, "SSL_CTX_new_ex failed", backendErrors: OpenSSLErrorStack.drain().map(\.text))
        }
        let draft = OpenSSLContextDraft(takingOwnership: ctx)
        draft.alpnWire = s.side == .server && !s.alpn.isEmpty ? TLSApplicationProtocol.wireFormat(s.alpn) : nil
        draft.checks = TLSPeerChecks(hooks)
        draft.maximumChainLength = s.maximumChainLength
        draft.verificationTime = s.verificationTime
        if let keyLog = hooks.insecureKeyLog {
            draft.keyLog = keyLog
            SSL_CTX_set_keylog_callback(ctx, keyLogCallback)
            hooks.logger.warning("TLSKit \(s.side) context logs TLS session secrets (TLSKitInsecure key log): the traffic can be decrypted")
        }
        // Our own step around X509_verify_cert: it keeps the chain of a rejected peer for the
        // error, and runs the context's hook after OpenSSL's verification succeeded.
        SSL_CTX_set_cert_verify_callback(ctx, certVerifyCallback, nil)

        // Never compression, never renegotiation; the server's preference order wins.
        var options = CTLSKitOpenSSLShims_SSL_OP_NO_COMPRESSION() | CTLSKitOpenSSLShims_SSL_OP_NO_RENEGOTIATION()
        if s.side == .server { options |= CTLSKitOpenSSLShims_SSL_OP_CIPHER_SERVER_PREFERENCE() }
        _ = SSL_CTX_set_options(ctx, options)
        // Present exactly the configured chain: no chain built from the trust store, so
        // every backend sends the same certificates.
        _ = CTLSKitOpenSSLShims_SSL_CTX_set_mode(
            ctx, CTLSKitOpenSSLShims_SSL_MODE_RELEASE_BUFFERS() | CTLSKitOpenSSLShims_SSL_MODE_NO_AUTO_CHAIN())

        // No in-memory session cache: resumption uses stateless tickets, so a busy server
        // does not grow an unbounded cache.
        _ = CTLSKitOpenSSLShims_SSL_CTX_set_session_cache_mode(ctx, 0)

        // `.systemDefault` follows the system's policy (its `system_default` section) first;
        // TLSKit's own rules (above and below: options, the version floor, the excluded
        // suites) are applied over it.
        var versions = s.versions
        if !s.policy.isModern && !s.policy.isCompatible {
            let system = try library.systemPolicy.get()
            try system.apply(to: ctx, side: s.side)
            versions = try systemVersions(ctx, versions, system)
        }

        // Versions: TLSProtocolVersion codes are OpenSSL's version numbers.
        guard CTLSKitOpenSSLShims_SSL_CTX_set_min_proto_version(ctx, Int32(versions.lowerBound.rawValue)) == 1,
            CTLSKitOpenSSLShims_SSL_CTX_set_max_proto_version(ctx, Int32(versions.upperBound.rawValue)) == 1
        else {
            throw TLSError(
                .unsupportedFeature, "OpenSSL refused the version range \(s.versions)",
                backendErrors: OpenSSLErrorStack.drain().map(\.text), backend: "openssl",
                feature: "minimumVersion")
        }

        if let length = s.maximumChainLength {
            // OpenSSL's depth d admits the leaf, d intermediates and the anchor, so it cannot
            // say "the leaf alone" (length 1): it only stops the chain building early, and
            // the length itself is checked on the verified chain (`verifyPeerChain`).
            SSL_CTX_set_verify_depth(ctx, Int32(max(0, length - 2)))
        }
        if let time = s.verificationTime {
            X509_VERIFY_PARAM_set_time(SSL_CTX_get0_param(ctx), time_t(time.secondsSince1970))
        }

        // Security level: policy first, then an explicit option.
        if s.policy.isCompatible {
            SSL_CTX_set_security_level(ctx, s.versions.lowerBound < .tls1_2 ? 0 : 1)
        } else if s.policy.isModern {
            SSL_CTX_set_security_level(ctx, max(SSL_CTX_get_security_level(ctx), 3))
        }
        if let level = s.options[OpenSSLOptions.SecurityLevel.self] {
            guard (0...5).contains(level) else {
                throw TLSError.configuration(field: "backendOptions", "OpenSSL security level \(level) is not 0…5")
            }
            SSL_CTX_set_security_level(ctx, Int32(level))
        }

        try configureCiphers(ctx, s, system: s.policy.isModern || s.policy.isCompatible ? nil : try library.systemPolicy.get())
        if let groups = s.groups {
            let list = groups.compactMap { OpenSSLGroups.name(for: $0) }.joined(separator: ":")
            guard CTLSKitOpenSSLShims_SSL_CTX_set1_groups_list(ctx, list) == 1 else {
                throw TLSError(
                    .unsupportedFeature, "OpenSSL refused the group list '\(list)'",
                    backendErrors: OpenSSLErrorStack.drain().map(\.text), backend: "openssl",
                    feature: "keyExchangeGroups")
            }
        }

        // ALPN.
        if !s.alpn.isEmpty {
            switch s.side {
            case .client:
                let wire = TLSApplicationProtocol.wireFormat(s.alpn)
                // SSL_CTX_set_alpn_protos returns 0 on success.
                guard SSL_CTX_set_alpn_protos(ctx, wire, UInt32(wire.count)) == 0 else {
                    throw TLSError(.internal, "SSL_CTX_set_alpn_protos failed")
                }
            case .server:
                break  // the handle registers its select callback (it points at the handle)
            }
        }
        return draft
    }

    /// The configuration's version range narrowed to what the system's policy allows (its
    /// `MinProtocol`/`MaxProtocol`, now set on `ctx`); never below TLSKit's floor.
    private static func systemVersions(
        _ ctx: OpaquePointer, _ wanted: ClosedRange<TLSProtocolVersion>, _ system: OpenSSLSystemPolicy
    ) throws(TLSError) -> ClosedRange<TLSProtocolVersion> {
        let minimum = SSL_CTX_ctrl(ctx, SSL_CTRL_GET_MIN_PROTO_VERSION, 0, nil)
        let maximum = SSL_CTX_ctrl(ctx, SSL_CTRL_GET_MAX_PROTO_VERSION, 0, nil)
        var lower = wanted.lowerBound
        var upper = wanted.upperBound
        if minimum > 0, let v = UInt16(exactly: minimum) { lower = max(lower, TLSProtocolVersion(rawValue: v)) }
        if maximum > 0, let v = UInt16(exactly: maximum) { upper = min(upper, TLSProtocolVersion(rawValue: v)) }
        guard lower <= upper else {
            throw TLSError(
                .configuration,
                "securityPolicy .systemDefault: the system's OpenSSL configuration \(system.path ?? "?") allows no "
                    + "version in \(wanted) (its MinProtocol/MaxProtocol); widen minimumVersion/maximumVersion, or use "
                    + "the .modern or .compatible policy, which do not follow the system",
                feature: "securityPolicy")
        }
        return lower...upper
    }

    private static func configureCiphers(_ ctx: OpaquePointer, _ s: OpenSSLContextSettings, system: OpenSSLSystemPolicy?)
        throws(TLSError)
    {
        if let suites = s.cipherSuites {
            let table = OpenSSLCipherTable.shared
            let tls13 = suites.filter(\.isTLS13).compactMap { table.name(for: $0) }.joined(separator: ":")
            let tls12 = suites.filter { !$0.isTLS13 }.compactMap { table.name(for: $0) }.joined(separator: ":")
            if !tls13.isEmpty, SSL_CTX_set_ciphersuites(ctx, tls13) != 1 {
                throw TLSError(
                    .unsupportedFeature, "OpenSSL refused the TLS 1.3 suites '\(tls13)'",
                    backendErrors: OpenSSLErrorStack.drain().map(\.text), backend: "openssl", feature: "cipherSuites")
            }
            if !tls12.isEmpty {
                let level = SSL_CTX_get_security_level(ctx)
                if SSL_CTX_set_cipher_list(ctx, tls12 + OpenSSLCipherTable.exclusions + ":@SECLEVEL=\(level)") != 1 {
                    throw TLSError(
                        .unsupportedFeature,
                        "none of the TLS 1.2 suites '\(tls12)' is allowed at security policy '\(s.policy)'",
                        backendErrors: OpenSSLErrorStack.drain().map(\.text), backend: "openssl",
                        feature: "cipherSuites")
                }
            }
            return
        }
        // Never anonymous, NULL-encryption, PSK or SRP suites, under any policy: the system's
        // CipherString (for `.systemDefault`) or DEFAULT, with the exclusions after it.
        let level = SSL_CTX_get_security_level(ctx)
        let base = system?.cipherString ?? "DEFAULT"
        ERR_clear_error()
        guard SSL_CTX_set_cipher_list(ctx, base + OpenSSLCipherTable.exclusions + ":@SECLEVEL=\(level)") == 1 else {
            throw TLSError(
                .configuration,
                system?.cipherString != nil
                    ? "securityPolicy .systemDefault: the CipherString '\(base)' of the system's OpenSSL configuration "
                        + "\(system?.path ?? "?") leaves no suite TLSKit may use (never anonymous, NULL, PSK or SRP); "
                        + "fix the file, or set cipherSuites, or use the .modern or .compatible policy"
                    : "OpenSSL refused its DEFAULT cipher list at security level \(level)",
                backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: "cipherSuites")
        }
        if s.policy.isModern {
            _ = SSL_CTX_set_ciphersuites(ctx, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256")
        }
    }

    /// Loads one signing chain into `ctx` and checks that key and certificate match.
    static func useChain(
        _ chain: TLSSigningChain, field: String, ctx: OpaquePointer, loader: OpenSSLCredentialLoader, isServer: Bool
    ) throws(TLSError) -> OpenSSLCertificateRef {
        let certs = try loader.certificates(chain.certificate, field: "\(field).certificate")
        var intermediates = Array(certs.dropFirst())
        for (i, extra) in chain.intermediates.enumerated() {
            intermediates += try loader.certificates(extra, field: "\(field).intermediates[\(i)]")
        }
        let key = try loader.privateKey(chain.privateKey, field: "\(field).privateKey")
        let leaf = certs[0]
        ERR_clear_error()
        guard SSL_CTX_use_certificate(ctx, leaf.pointer) == 1 else {
            throw TLSError(
                .configuration,
                "\(field).certificate: OpenSSL refused the certificate (is its key too weak "
                    + "for the security policy?)",
                backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: "\(field).certificate")
        }
        for cert in intermediates where CTLSKitOpenSSLShims_SSL_CTX_add1_chain_cert(ctx, cert.pointer) != 1 {
            throw TLSError(
                .configuration, "\(field).intermediates: OpenSSL refused an intermediate certificate",
                backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: "\(field).intermediates")
        }
        guard SSL_CTX_use_PrivateKey(ctx, key.pointer) == 1 else {
            let entries = OpenSSLErrorStack.drain()
            let mismatch = entries.contains { $0.reason == X509_R_KEY_VALUES_MISMATCH || $0.reason == X509_R_KEY_TYPE_MISMATCH }
            if mismatch, case .signer(let signer) = chain.privateKey.source {
                throw TLSError(
                    .configuration,
                    "\(field): the public key of \(signer) is not the certificate's; give the certificate issued for the "
                        + "signer's key", backendErrors: entries.map(\.text), feature: "\(field).privateKey")
            }
            throw TLSError(
                .configuration,
                mismatch
                    ? "\(field): the private key does not match the certificate; check that the key and "
                        + "certificate files belong together"
                    : "\(field).privateKey: OpenSSL refused the private key",
                backendErrors: entries.map(\.text), feature: "\(field).privateKey")
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            throw TLSError(
                .configuration,
                "\(field): the private key does not match the certificate; check that the key and "
                    + "certificate files belong together",
                backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: "\(field).privateKey")
        }
        if case .signer(let signer) = chain.privateKey.source {
            try OpenSSLSigner.restrictSigning(ctx, to: signer, isServer: isServer, field: "\(field).privateKey")
        }
        return leaf
    }

    /// Sets up what the peer is verified against: the roots (or the pins) and the CRLs.
    static func configureTrust(
        _ trust: TLSTrustStore, revocationLists: [TLSRevocationList], draft: OpenSSLContextDraft,
        loader: OpenSSLCredentialLoader
    ) throws(TLSError) {
        if case .pinned(let keys, let certificates) = trust.source {
            // No roots at all: the verify callback compares the leaf's key with the pins.
            var pins = Set(keys.map(\.sha256))
            for (index, certificate) in certificates.enumerated() {
                for cert in try loader.certificates(certificate, field: "trustStore.pinned[\(index)]") {
                    pins.insert(try OpenSSLPeerChain.spkiSHA256(cert.pointer))
                }
            }
            draft.pins = pins
            return
        }
        let store = try loader.trustStore(trust, field: "trustStore")
        SSL_CTX_set_cert_store(draft.pointer, store.release())
        try loader.addRevocationLists(revocationLists, to: draft.pointer, field: "revocationLists")
        if !revocationLists.isEmpty, let x509Store = SSL_CTX_get_cert_store(draft.pointer) {
            // Every certificate of the chain, not only the leaf: a revoked intermediate is
            // refused too, and each CA of the chain must have a CRL here (as on GnuTLS).
            _ = X509_STORE_set_flags(x509Store, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
        }
    }

    static func warnIfWeak(_ policy: TLSSecurityPolicy, side: TLSSide, logger: Logger) {
        if policy.isCompatible {
            logger.warning(
                "TLSKit \(side) context built with the 'compatible' security policy: legacy cipher suites and weaker keys are allowed")
        }
    }
}
