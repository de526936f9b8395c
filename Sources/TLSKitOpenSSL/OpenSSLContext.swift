internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import Logging
import TLSKit
import TLSKitInsecure

// MARK: - Client context

/// A client context of the OpenSSL backend. Immutable once built; share it freely.
final class OpenSSLClientContext: TLSClientContext, @unchecked Sendable {
    // @unchecked: all stored properties are set in init and never mutated.
    let backendName = "openssl"
    let configuration: TLSClientConfiguration
    let handle: OpenSSLContextHandle
    let library: OpenSSLLibraryContext
    /// TLSKitInsecure's verification setting, if any.
    let insecure: TLSInsecure.Verification?
    /// Session tickets by server name (when resumption is on).
    let sessions = TLSSessionCache<OpenSSLSessionTicket>()

    init(library: OpenSSLLibraryContext, configuration: TLSClientConfiguration, hooks: TLSContextHooks) throws(TLSError) {
        self.library = library
        self.configuration = configuration
        let draft = try OpenSSLContextBuilder.make(library, OpenSSLContextSettings(configuration), hooks: hooks)
        let ctx = draft.pointer
        let loader = OpenSSLCredentialLoader(library: library)
        try OpenSSLContextBuilder.configureTrust(
            configuration.trustStore, revocationLists: configuration.revocationLists, draft: draft, loader: loader)
        draft.maximumResumptionAge = configuration.maximumResumptionAge
        insecure = configuration.insecureVerification
        if let insecure {
            hooks.logger.warning("TLSKit client context built INSECURELY (TLSKitInsecure): \(insecure); servers can be impersonated")
        }
        // Always VERIFY_PEER, also when TLSKitInsecure skips the chain: under VERIFY_NONE
        // OpenSSL ignores the verify callback's answer, and the policies must still be able
        // to reject (verifyPeerChain skips the chain check itself).
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        if configuration.resumesSessions {
            // Sessions go to our cache (by server name), not OpenSSL's internal one.
            _ = CTLSKitOpenSSLShims_SSL_CTX_set_session_cache_mode(
                ctx, CTLSKitOpenSSLShims_SSL_SESS_CACHE_CLIENT() | CTLSKitOpenSSLShims_SSL_SESS_CACHE_NO_INTERNAL_STORE())
            SSL_CTX_sess_set_new_cb(ctx, newSessionCallback)
        }
        if let chain = configuration.certificateChain {
            _ = try OpenSSLContextBuilder.useChain(chain, field: "certificateChain", ctx: ctx, loader: loader, isServer: false)
        }
        if configuration.ocspStapling != .ignore {
            // Ask for the server's OCSP response, and check it once the chain is verified.
            _ = CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_status_type(ctx, CTLSKitOpenSSLShims_TLSEXT_STATUSTYPE_ocsp())
            _ = CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_status_cb(ctx, clientStatusCallback)
        }
        OpenSSLContextBuilder.warnIfWeak(configuration.securityPolicy, side: .client, logger: hooks.logger)
        ERR_clear_error()
        handle = OpenSSLContextHandle(finishing: draft)
    }

    func makeConnection(serverName: TLSServerName?) throws(TLSError) -> any TLSConnection {
        try OpenSSLConnection(client: self, serverName: .resolve(serverName, configured: configuration.serverName))
    }
}

// MARK: - Server context

/// A server context of the OpenSSL backend. Share it freely; only its chains change, by
/// ``replaceCertificateChains(_:)``, which swaps in a whole new set of `SSL_CTX`s.
final class OpenSSLServerContext: TLSServerContext, @unchecked Sendable {
    // @unchecked: `current` is read and replaced under `lock`; everything else is set in
    // init and never mutated.
    let backendName = "openssl"
    let library: OpenSSLLibraryContext
    /// The rotating session-ticket keys, shared by every chain and every generation of
    /// chains, so tickets outlive a certificate rotation.
    let ticketKeys: OpenSSLTicketKeys
    /// The wall clock resumption ages are measured on (tests move it).
    let clock = TLSWallClock()
    /// The hook that picks a chain per ClientHello, and the chains it returned, loaded.
    let resolver: (@Sendable (TLSClientHelloInfo) -> TLSCertificateSelection)?
    let resolved = TLSResolvedChains<OpenSSLContextHandle>()
    private let hooks: TLSContextHooks
    private let settings: OpenSSLContextSettings
    private let validate: @Sendable (TLSServerConfiguration) throws(TLSError) -> Void
    private let lock = TLSMutex()
    private var current: (configuration: TLSServerConfiguration, handle: OpenSSLContextHandle)

    init(
        library: OpenSSLLibraryContext, configuration: TLSServerConfiguration, hooks: TLSContextHooks,
        validate: @escaping @Sendable (TLSServerConfiguration) throws(TLSError) -> Void
    ) throws(TLSError) {
        self.library = library
        self.hooks = hooks
        self.validate = validate
        resolver = hooks.certificateResolver
        settings = try OpenSSLContextSettings(configuration)
        ticketKeys = try OpenSSLTicketKeys(library: library, lifetime: configuration.ticketKeyLifetime)
        current = (
            configuration,
            try Self.build(
                configuration, chains: configuration.certificateChains,
                origin: .configuration, library: library, settings: settings, hooks: hooks, ticketKeys: ticketKeys,
                resolves: hooks.certificateResolver != nil)
        )
        OpenSSLContextBuilder.warnIfWeak(configuration.securityPolicy, side: .server, logger: hooks.logger)
        ERR_clear_error()
    }

    /// The configuration, with the chains presented now.
    var configuration: TLSServerConfiguration { lock.withLock { current.configuration } }

    /// The primary `SSL_CTX` new connections start from (with its SNI alternatives).
    var handle: OpenSSLContextHandle { lock.withLock { current.handle } }

    func replaceCertificateChains(_ chains: [TLSSigningChain]) throws(TLSError) {
        var configuration = self.configuration
        configuration.certificateChains = chains
        try validate(configuration)
        let handle = try Self.build(
            configuration, chains: chains, origin: .configuration, library: library, settings: settings, hooks: hooks,
            ticketKeys: ticketKeys, resolves: resolver != nil)
        ERR_clear_error()
        lock.withLock { current = (configuration, handle) }
        resolved.removeAll()
    }

    /// Loads `chain` (for the resolver) as a context of its own, with every other setting
    /// of this one.
    func loadResolved(_ chain: TLSSigningChain) throws(TLSError) -> OpenSSLContextHandle {
        try resolved.loaded(chain) { chain throws(TLSError) in
            let handle = try Self.build(
                configuration, chains: [chain], origin: .resolver, library: library, settings: settings, hooks: hooks,
                ticketKeys: ticketKeys, resolves: false)
            ERR_clear_error()
            return handle
        }
    }

    /// One `SSL_CTX` per chain: the first is the default, and the others are SNI
    /// alternatives it switches to.
    private static func build(
        _ configuration: TLSServerConfiguration, chains: [TLSSigningChain], origin: TLSChainOrigin, library: OpenSSLLibraryContext,
        settings: OpenSSLContextSettings, hooks: TLSContextHooks, ticketKeys: OpenSSLTicketKeys, resolves: Bool
    ) throws(TLSError) -> OpenSSLContextHandle {
        let loader = OpenSSLCredentialLoader(library: library)
        var drafts: [OpenSSLContextDraft] = []
        for (index, chain) in chains.enumerated() {
            let draft = try OpenSSLContextBuilder.make(library, settings, hooks: hooks)
            draft.ticketKeys = ticketKeys
            _ = SSL_CTX_set_tlsext_ticket_key_evp_cb(draft.pointer, ticketKeyCallback)
            let chainField = origin.field(index)
            let leaf = try OpenSSLContextBuilder.useChain(chain, field: chainField, ctx: draft.pointer, loader: loader, isServer: true)
            draft.leaf = leaf
            if let ocsp = chain.ocspResponse {
                let response = try ocsp.load(field: "\(chainField).ocspResponse")
                try OpenSSLOCSP.checkResponse(response, for: leaf, field: "\(chainField).ocspResponse")
                draft.ocspResponse = response
            }
            try Self.configureClientAuthentication(draft, configuration, loader: loader)
            draft.maximumResumptionAge = configuration.maximumResumptionAge
            _ = SSL_CTX_set_session_ticket_cb(draft.pointer, ticketGenerateCallback, ticketDecryptCallback, nil)
            _ = SSL_CTX_set_num_tickets(draft.pointer, Int(configuration.sessionTicketCount))
            // Session IDs must match across the SNI alternatives for resumption to work.
            let sid: [UInt8] = Array("tlskit".utf8)
            _ = SSL_CTX_set_session_id_context(draft.pointer, sid, UInt32(sid.count))
            drafts.append(draft)
        }
        // The resolver is asked from the primary context's ClientHello callback.
        if resolves { SSL_CTX_set_client_hello_cb(drafts[0].pointer, clientHelloCallback, nil) }
        return OpenSSLContextHandle(
            finishing: drafts[0], alternatives: drafts.dropFirst().map { OpenSSLContextHandle(finishing: $0) })
    }

    private static func configureClientAuthentication(
        _ draft: OpenSSLContextDraft, _ configuration: TLSServerConfiguration, loader: OpenSSLCredentialLoader
    ) throws(TLSError) {
        let ctx = draft.pointer
        switch configuration.effectiveClientAuthentication {
        case .none:
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        case .optional, .required:
            guard let trust = configuration.trustStore else { return }  // validated before
            try OpenSSLContextBuilder.configureTrust(
                trust, revocationLists: configuration.revocationLists, draft: draft, loader: loader)
            let required = configuration.effectiveClientAuthentication == .required
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nil)
        }
    }

    func makeConnection() throws(TLSError) -> any TLSConnection {
        try OpenSSLConnection(server: self)
    }
}
