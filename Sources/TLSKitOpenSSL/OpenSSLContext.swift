internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import Logging
import TLSKit
import TLSKitInsecure

/// Owns one `SSL_CTX*` and everything its callbacks point at.
final class OpenSSLContextHandle: @unchecked Sendable {
    // @unchecked: configured completely in init, then only read; an SSL_CTX is safe to
    // share between threads once configuration has finished.
    let pointer: OpaquePointer
    /// The server's ALPN list in wire format; the select callback returns pointers into it,
    /// so it lives as long as the SSL_CTX.
    let alpnWire: UnsafeMutableBufferPointer<UInt8>?
    /// The leaf of the chain this context presents (servers), for SNI matching.
    var leaf: OpenSSLCertificateRef?
    /// Other contexts selected by SNI (primary server context only).
    var alternatives: [OpenSSLContextHandle] = []
    /// The context's verification policies and hook, composed; `nil` when there are none.
    var checks: TLSPeerChecks?
    /// SHA-256 hashes of the pinned SubjectPublicKeyInfos, when the trust store pins keys.
    var pins: Set<[UInt8]>?
    /// The longest verified chain accepted, if limited.
    var maximumChainLength: Int?
    /// How long after a full verification a session may be resumed.
    var maximumResumptionAge: Duration = .seconds(24 * 3600)
    /// The configured verification time, if any.
    var verificationTime: TLSVerificationTime?
    /// TLSKitInsecure's key-log sink, if attached.
    var keyLog: (@Sendable (String) -> Void)?
    /// Server: the rotating session-ticket keys (shared by every SNI alternative).
    var ticketKeys: OpenSSLTicketKeys?

    init(pointer: OpaquePointer, alpnWire: [UInt8]?) {
        self.pointer = pointer
        if let alpnWire, !alpnWire.isEmpty {
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: alpnWire.count)
            _ = buffer.initialize(from: alpnWire)
            self.alpnWire = buffer
        } else {
            self.alpnWire = nil
        }
    }

    deinit {
        SSL_CTX_free(pointer)
        alpnWire?.deallocate()
    }
}

/// The settings shared by client and server contexts.
struct OpenSSLContextSettings {
    var side: TLSSide
    var versions: ClosedRange<TLSProtocolVersion>
    var cipherSuites: [TLSCipherSuite]?
    var groups: [TLSNamedGroup]?
    var policy: TLSSecurityPolicy
    var alpn: [TLSApplicationProtocol]
    var options: TLSBackendOptions
    var verificationTime: TLSVerificationTime? = nil
    var maximumChainLength: Int? = nil

    init(_ c: TLSClientConfiguration) throws(TLSError) {
        self.init(
            side: .client, versions: try c.effectiveVersionRange(), cipherSuites: c.cipherSuites,
            groups: c.keyExchangeGroups, policy: c.securityPolicy, alpn: c.applicationProtocols, options: c.backendOptions)
        verificationTime = c.verificationTime
        maximumChainLength = c.maximumChainLength
    }

    init(_ c: TLSServerConfiguration) throws(TLSError) {
        self.init(
            side: .server, versions: try c.effectiveVersionRange(), cipherSuites: c.cipherSuites,
            groups: c.keyExchangeGroups, policy: c.securityPolicy, alpn: c.applicationProtocols, options: c.backendOptions)
        verificationTime = c.verificationTime
        maximumChainLength = c.maximumChainLength
    }

    init(
        side: TLSSide, versions: ClosedRange<TLSProtocolVersion>, cipherSuites: [TLSCipherSuite]?,
        groups: [TLSNamedGroup]?, policy: TLSSecurityPolicy, alpn: [TLSApplicationProtocol], options: TLSBackendOptions
    ) {
        self.side = side
        self.versions = versions
        self.cipherSuites = cipherSuites
        self.groups = groups
        self.policy = policy
        self.alpn = alpn
        self.options = options
    }
}

enum OpenSSLContextBuilder {
    /// Creates and configures an `SSL_CTX` (everything but credentials and verification).
    static func make(
        _ library: OpenSSLLibraryContext, _ s: OpenSSLContextSettings, hooks: TLSContextHooks = TLSContextHooks()
    ) throws(TLSError) -> OpenSSLContextHandle {
        ERR_clear_error()
        let method = s.side == .client ? TLS_client_method() : TLS_server_method()
        guard let ctx = SSL_CTX_new_ex(library.pointer, library.propertyQuery, method) else {
            throw TLSError(
                .internal, "SSL_CTX_new_ex failed", backendErrors: OpenSSLErrorStack.drain().map(\.text))
        }
        let alpnWire = s.side == .server && !s.alpn.isEmpty ? TLSApplicationProtocol.wireFormat(s.alpn) : nil
        let handle = OpenSSLContextHandle(pointer: ctx, alpnWire: alpnWire)
        handle.checks = TLSPeerChecks(hooks)
        handle.maximumChainLength = s.maximumChainLength
        handle.verificationTime = s.verificationTime
        if let keyLog = hooks.insecureKeyLog {
            handle.keyLog = keyLog
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

        // Versions: TLSProtocolVersion codes are OpenSSL's version numbers.
        guard CTLSKitOpenSSLShims_SSL_CTX_set_min_proto_version(ctx, Int32(s.versions.lowerBound.rawValue)) == 1,
            CTLSKitOpenSSLShims_SSL_CTX_set_max_proto_version(ctx, Int32(s.versions.upperBound.rawValue)) == 1
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

        try configureCiphers(ctx, s)
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
                SSL_CTX_set_alpn_select_cb(ctx, alpnSelectCallback, Unmanaged.passUnretained(handle).toOpaque())
            }
        }
        return handle
    }

    private static func configureCiphers(_ ctx: OpaquePointer, _ s: OpenSSLContextSettings) throws(TLSError) {
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
        // Never anonymous, NULL-encryption, PSK or SRP suites, under any policy.
        let level = SSL_CTX_get_security_level(ctx)
        _ = SSL_CTX_set_cipher_list(ctx, "DEFAULT" + OpenSSLCipherTable.exclusions + ":@SECLEVEL=\(level)")
        if s.policy.isModern {
            _ = SSL_CTX_set_ciphersuites(ctx, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256")
        }
    }

    /// Loads one signing chain into `ctx` and checks that key and certificate match.
    static func useChain(
        _ chain: TLSSigningChain, field: String, ctx: OpaquePointer, loader: OpenSSLCredentialLoader
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
                .configuration, "\(field).certificate: OpenSSL refused the certificate (is its key too weak "
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
        return leaf
    }

    /// Sets up what the peer is verified against: the roots (or the pins) and the CRLs.
    static func configureTrust(
        _ trust: TLSTrustStore, revocationLists: [TLSRevocationList], handle: OpenSSLContextHandle,
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
            handle.pins = pins
            return
        }
        let store = try loader.trustStore(trust, field: "trustStore")
        SSL_CTX_set_cert_store(handle.pointer, store.release())
        try loader.addRevocationLists(revocationLists, to: handle.pointer, field: "revocationLists")
        if !revocationLists.isEmpty, let x509Store = SSL_CTX_get_cert_store(handle.pointer) {
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

// MARK: - C callbacks (no captures; context comes through the arg pointer)

/// Hands NSS key-log lines to the context's sink (TLSKitInsecure).
private let keyLogCallback: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Void = { ssl, line in
    guard let ssl, let line, let pointer = SSL_get_ex_data(ssl, 0) else { return }
    Unmanaged<OpenSSLConnection>.fromOpaque(pointer).takeUnretainedValue().logKeys(String(cString: line))
}

/// OpenSSL asks for a session-ticket key (to seal a ticket, or to open one).
private let ticketKeyCallback: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?, OpaquePointer?, OpaquePointer?, Int32
) -> Int32 = { ssl, name, iv, cipherContext, macContext, encrypt in
    guard let ssl, let name, let iv, let cipherContext, let macContext, let pointer = SSL_get_ex_data(ssl, 0) else { return -1 }
    return Unmanaged<OpenSSLConnection>.fromOpaque(pointer).takeUnretainedValue()
        .ticketKey(name: name, iv: iv, cipherContext: cipherContext, macContext: macContext, encrypt: encrypt == 1)
}

/// A new session (ticket) arrived on a client connection: keep it for the next connection.
private let newSessionCallback: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32 = { ssl, session in
    guard let ssl, let session, let pointer = SSL_get_ex_data(ssl, 0) else { return 0 }
    return Unmanaged<OpenSSLConnection>.fromOpaque(pointer).takeUnretainedValue().keepSession(session)
}

/// Owns one `SSL_SESSION*` (a ticket) in a client context's session cache.
final class OpenSSLSessionTicket: @unchecked Sendable {
    // @unchecked: never mutated; OpenSSL reference-counts sessions.
    let pointer: OpaquePointer
    init(takingOwnership pointer: OpaquePointer) { self.pointer = pointer }
    deinit { SSL_SESSION_free(pointer) }
}

/// Verifies the peer: the connection runs OpenSSL's chain verification (or compares pins),
/// then the context's policies. Fails closed when the connection cannot be found.
private let certVerifyCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { storeContext, _ in
    guard let storeContext,
        let ssl = X509_STORE_CTX_get_ex_data(storeContext, SSL_get_ex_data_X509_STORE_CTX_idx()),
        let connectionPointer = SSL_get_ex_data(OpaquePointer(ssl), 0)
    else { return 0 }
    let connection = Unmanaged<OpenSSLConnection>.fromOpaque(connectionPointer).takeUnretainedValue()
    return connection.verifyPeerChain(storeContext)
}

/// A session ticket is about to be sealed (servers): record when the client was verified.
private let ticketGenerateCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { ssl, _ in
    guard let ssl, let pointer = SSL_get_ex_data(ssl, 0) else { return 0 }
    return Unmanaged<OpenSSLConnection>.fromOpaque(pointer).takeUnretainedValue().sealTicketAuthentication()
}

/// A ticket came back (servers): resume only if the session may still be resumed.
private let ticketDecryptCallback: @convention(c) (
    OpaquePointer?, OpaquePointer?, UnsafePointer<UInt8>?, Int, Int32, UnsafeMutableRawPointer?
) -> Int32 = { ssl, session, _, _, status, _ in
    switch status {
    case SSL_TICKET_SUCCESS, SSL_TICKET_SUCCESS_RENEW:
        guard let ssl, let session, let pointer = SSL_get_ex_data(ssl, 0) else { return SSL_TICKET_RETURN_IGNORE_RENEW }
        let connection = Unmanaged<OpenSSLConnection>.fromOpaque(pointer).takeUnretainedValue()
        guard connection.mayResume(session) else { return SSL_TICKET_RETURN_IGNORE_RENEW }
        return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW
    case SSL_TICKET_EMPTY, SSL_TICKET_NO_DECRYPT:
        return SSL_TICKET_RETURN_IGNORE_RENEW
    default:
        return SSL_TICKET_RETURN_ABORT
    }
}

/// ALPN selection on the server: the server's order wins; no overlap is fatal
/// (no_application_protocol), as RFC 7301 §3.2 asks.
private let alpnSelectCallback:
    @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
        UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
    ) -> Int32 = { _, out, outLength, clientList, clientLength, arg in
        guard let arg, let out, let outLength, let clientList else { return SSL_TLSEXT_ERR_NOACK }
        let handle = Unmanaged<OpenSSLContextHandle>.fromOpaque(arg).takeUnretainedValue()
        guard let server = handle.alpnWire else { return SSL_TLSEXT_ERR_NOACK }
        var selected: UnsafeMutablePointer<UInt8>?
        let status = SSL_select_next_proto(
            &selected, outLength, server.baseAddress, UInt32(server.count), clientList, clientLength)
        guard status == OPENSSL_NPN_NEGOTIATED, let selected else { return SSL_TLSEXT_ERR_ALERT_FATAL }
        out.pointee = UnsafePointer(selected)
        return SSL_TLSEXT_ERR_OK
    }

/// SNI on the server: switch to the first alternative context whose leaf is valid for the
/// name the client sent; stay on the default otherwise.
private let serverNameCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?)
    -> Int32 = { ssl, _, arg in
        guard let ssl, let arg, let name = SSL_get_servername(ssl, Int32(TLSEXT_NAMETYPE_host_name)) else {
            return SSL_TLSEXT_ERR_OK
        }
        let primary = Unmanaged<OpenSSLContextHandle>.fromOpaque(arg).takeUnretainedValue()
        if let leaf = primary.leaf, X509_check_host(leaf.pointer, name, 0, 0, nil) == 1 { return SSL_TLSEXT_ERR_OK }
        for alternative in primary.alternatives {
            if let leaf = alternative.leaf, X509_check_host(leaf.pointer, name, 0, 0, nil) == 1 {
                _ = SSL_set_SSL_CTX(ssl, alternative.pointer)
                break
            }
        }
        return SSL_TLSEXT_ERR_OK
    }

// MARK: - Client context

/// A client context of the OpenSSL backend. Immutable once built; share it freely.
final class OpenSSLClientContext: TLSClientContext, @unchecked Sendable {
    // @unchecked: all stored properties are set in init and never mutated.
    let backendName = "openssl"
    let configuration: TLSClientConfiguration
    let handle: OpenSSLContextHandle
    let library: OpenSSLLibraryContext
    /// TLSKitInsecure's verification setting, if any.
    private(set) var insecure: TLSInsecure.Verification?
    /// Session tickets by server name (when resumption is on).
    let sessions = TLSSessionCache<OpenSSLSessionTicket>()

    init(library: OpenSSLLibraryContext, configuration: TLSClientConfiguration, hooks: TLSContextHooks) throws(TLSError) {
        self.library = library
        self.configuration = configuration
        handle = try OpenSSLContextBuilder.make(library, OpenSSLContextSettings(configuration), hooks: hooks)
        let loader = OpenSSLCredentialLoader(library: library)
        try OpenSSLContextBuilder.configureTrust(
            configuration.trustStore, revocationLists: configuration.revocationLists, handle: handle, loader: loader)
        handle.maximumResumptionAge = configuration.maximumResumptionAge
        insecure = configuration.insecureVerification
        if let insecure {
            hooks.logger.warning("TLSKit client context built INSECURELY (TLSKitInsecure): \(insecure); servers can be impersonated")
        }
        // Always VERIFY_PEER, also when TLSKitInsecure skips the chain: under VERIFY_NONE
        // OpenSSL ignores the verify callback's answer, and the policies must still be able
        // to reject (verifyPeerChain skips the chain check itself).
        SSL_CTX_set_verify(handle.pointer, SSL_VERIFY_PEER, nil)
        if configuration.resumesSessions {
            // Sessions go to our cache (by server name), not OpenSSL's internal one.
            _ = CTLSKitOpenSSLShims_SSL_CTX_set_session_cache_mode(
                handle.pointer, CTLSKitOpenSSLShims_SSL_SESS_CACHE_CLIENT() | CTLSKitOpenSSLShims_SSL_SESS_CACHE_NO_INTERNAL_STORE())
            SSL_CTX_sess_set_new_cb(handle.pointer, newSessionCallback)
        }
        if let chain = configuration.certificateChain {
            _ = try OpenSSLContextBuilder.useChain(chain, field: "certificateChain", ctx: handle.pointer, loader: loader)
        }
        OpenSSLContextBuilder.warnIfWeak(configuration.securityPolicy, side: .client, logger: hooks.logger)
        ERR_clear_error()
    }

    func makeConnection(serverName: TLSServerName?) throws(TLSError) -> any TLSConnection {
        guard let name = serverName ?? configuration.serverName else {
            throw TLSError.configuration(
                field: "serverName",
                "a client connection needs the server's name to verify its certificate; set "
                    + "TLSClientConfiguration.serverName or pass serverName: to makeConnection")
        }
        return try OpenSSLConnection(client: self, serverName: name)
    }
}

// MARK: - Server context

/// A server context of the OpenSSL backend. Immutable once built; share it freely.
final class OpenSSLServerContext: TLSServerContext, @unchecked Sendable {
    // @unchecked: all stored properties are set in init and never mutated.
    let backendName = "openssl"
    let configuration: TLSServerConfiguration
    let handle: OpenSSLContextHandle
    let library: OpenSSLLibraryContext
    /// The rotating session-ticket keys.
    let ticketKeys: OpenSSLTicketKeys
    /// The wall clock resumption ages are measured on (tests move it).
    let clock = TLSWallClock()

    init(library: OpenSSLLibraryContext, configuration: TLSServerConfiguration, hooks: TLSContextHooks) throws(TLSError) {
        self.library = library
        self.configuration = configuration
        let settings = try OpenSSLContextSettings(configuration)
        let loader = OpenSSLCredentialLoader(library: library)

        var handles: [OpenSSLContextHandle] = []
        let ticketKeys = try OpenSSLTicketKeys(library: library, lifetime: configuration.ticketKeyLifetime)
        self.ticketKeys = ticketKeys
        for (index, chain) in configuration.certificateChains.enumerated() {
            let handle = try OpenSSLContextBuilder.make(library, settings, hooks: hooks)
            handle.ticketKeys = ticketKeys
            _ = SSL_CTX_set_tlsext_ticket_key_evp_cb(handle.pointer, ticketKeyCallback)
            handle.leaf = try OpenSSLContextBuilder.useChain(
                chain, field: "certificateChains[\(index)]", ctx: handle.pointer, loader: loader)
            try Self.configureClientAuthentication(handle, configuration, loader: loader)
            handle.maximumResumptionAge = configuration.maximumResumptionAge
            _ = SSL_CTX_set_session_ticket_cb(
                handle.pointer, ticketGenerateCallback, ticketDecryptCallback, nil)
            // Session IDs must match across the SNI alternatives for resumption to work.
            let sid: [UInt8] = Array("tlskit".utf8)
            _ = SSL_CTX_set_session_id_context(handle.pointer, sid, UInt32(sid.count))
            handles.append(handle)
        }
        handle = handles[0]
        if handles.count > 1 {
            handle.alternatives = Array(handles.dropFirst())
            _ = CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_servername_callback(handle.pointer, serverNameCallback)
            _ = CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_servername_arg(
                handle.pointer, Unmanaged.passUnretained(handle).toOpaque())
        }
        OpenSSLContextBuilder.warnIfWeak(configuration.securityPolicy, side: .server, logger: hooks.logger)
        ERR_clear_error()
    }

    private static func configureClientAuthentication(
        _ handle: OpenSSLContextHandle, _ configuration: TLSServerConfiguration, loader: OpenSSLCredentialLoader
    ) throws(TLSError) {
        let ctx = handle.pointer
        switch configuration.effectiveClientAuthentication {
        case .none:
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        case .optional, .required:
            guard let trust = configuration.trustStore else { return }  // validated before
            try OpenSSLContextBuilder.configureTrust(
                trust, revocationLists: configuration.revocationLists, handle: handle, loader: loader)
            let required = configuration.effectiveClientAuthentication == .required
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nil)
        }
    }

    func makeConnection() throws(TLSError) -> any TLSConnection {
        try OpenSSLConnection(server: self)
    }
}
