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
            _ = try OpenSSLContextBuilder.useChain(chain, field: "certificateChain", ctx: ctx, loader: loader)
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

        var drafts: [OpenSSLContextDraft] = []
        let ticketKeys = try OpenSSLTicketKeys(library: library, lifetime: configuration.ticketKeyLifetime)
        self.ticketKeys = ticketKeys
        for (index, chain) in configuration.certificateChains.enumerated() {
            let draft = try OpenSSLContextBuilder.make(library, settings, hooks: hooks)
            draft.ticketKeys = ticketKeys
            _ = SSL_CTX_set_tlsext_ticket_key_evp_cb(draft.pointer, ticketKeyCallback)
            draft.leaf = try OpenSSLContextBuilder.useChain(
                chain, field: "certificateChains[\(index)]", ctx: draft.pointer, loader: loader)
            try Self.configureClientAuthentication(draft, configuration, loader: loader)
            draft.maximumResumptionAge = configuration.maximumResumptionAge
            _ = SSL_CTX_set_session_ticket_cb(draft.pointer, ticketGenerateCallback, ticketDecryptCallback, nil)
            // Session IDs must match across the SNI alternatives for resumption to work.
            let sid: [UInt8] = Array("tlskit".utf8)
            _ = SSL_CTX_set_session_id_context(draft.pointer, sid, UInt32(sid.count))
            drafts.append(draft)
        }
        OpenSSLContextBuilder.warnIfWeak(configuration.securityPolicy, side: .server, logger: hooks.logger)
        ERR_clear_error()
        // The first chain is the default; the others are SNI alternatives it switches to.
        handle = OpenSSLContextHandle(
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
