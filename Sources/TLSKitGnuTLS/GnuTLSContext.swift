internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
import Logging
import TLSKit
import TLSKitInsecure

#if canImport(Glibc)
import Glibc
#endif

/// What a GnuTLS context shares with its sessions: credentials, the priority cache and the
/// ALPN list (in memory that lives as long as the context).
final class GnuTLSContextState: @unchecked Sendable {
    // @unchecked: set up completely in init, then only read.
    let side: TLSSide
    /// The default credentials (client: trust + own chain; server: the first chain).
    let credentials: GnuTLSCredentials
    let priority: gnutls_priority_t
    let alpn: [UnsafeMutableBufferPointer<UInt8>]
    let clientAuthentication: TLSServerConfiguration.ClientAuthentication
    /// The context's verification policies and hook, composed; `nil` when there are none.
    let checks: TLSPeerChecks?
    /// SHA-256 hashes of the pinned SubjectPublicKeyInfos, when the trust store pins keys.
    let pins: Set<[UInt8]>?
    /// With CRLs: the issuer names they come from (each CA of a verified chain needs one).
    let crlIssuers: Set<[UInt8]>?
    /// How long after a full verification a session may be resumed.
    let maximumResumptionAge: Duration
    /// The wall clock for resumption ages (tests move it); the session cache's on clients.
    let clock: TLSWallClock
    let keyLog: (@Sendable (String) -> Void)?
    let insecure: TLSInsecure.Verification?
    /// Client: session tickets by server name, when resumption is on.
    let sessions: TLSSessionCache<GnuTLSSessionTicket>?
    /// The longest verified chain accepted (leaf to anchor), if limited.
    let maximumChainLength: Int?
    /// Client: what to do about OCSP stapling.
    let ocspStapling: TLSOCSPStapling
    /// Server: how long tickets are valid (from ticketKeyLifetime).
    let ticketLifetimeSeconds: Int64
    /// Server: TLS 1.3 tickets sent after a full handshake.
    let sessionTicketCount: UInt32
    /// Server: the master key GnuTLS derives (and rotates) session-ticket keys from.
    private(set) var ticketKey = gnutls_datum_t()

    init(
        side: TLSSide, settings: GnuTLSSettings, credentials: GnuTLSCredentials, alpn: [TLSApplicationProtocol],
        clientAuthentication: TLSServerConfiguration.ClientAuthentication,
        hooks: TLSContextHooks,
        insecure: TLSInsecure.Verification? = nil,
        resumesSessions: Bool = false,
        verification: GnuTLSVerificationSettings,
        ticketLifetimeSeconds: Int64 = 12 * 3600,
        sessionTicketCount: Int = 0,
        ocspStapling: TLSOCSPStapling = .ignore
    ) throws(TLSError) {
        self.side = side
        self.ocspStapling = ocspStapling
        self.pins = verification.pins
        self.crlIssuers = verification.crlIssuers
        self.maximumResumptionAge = verification.maximumResumptionAge
        self.maximumChainLength = verification.maximumChainLength
        self.ticketLifetimeSeconds = ticketLifetimeSeconds
        self.sessionTicketCount = UInt32(sessionTicketCount)
        self.sessions = side == .client && resumesSessions ? TLSSessionCache<GnuTLSSessionTicket>() : nil
        self.clock = sessions?.clock ?? TLSWallClock()
        self.checks = TLSPeerChecks(hooks)
        self.keyLog = hooks.insecureKeyLog
        self.insecure = insecure
        if keyLog != nil {
            hooks.logger.warning("TLSKit \(side) context logs TLS session secrets (TLSKitInsecure key log): the traffic can be decrypted")
        }
        if let insecure {
            hooks.logger.warning("TLSKit client context built INSECURELY (TLSKitInsecure): \(insecure); servers can be impersonated")
        }
        self.credentials = credentials
        self.clientAuthentication = clientAuthentication
        let string = try GnuTLSPriority.build(settings)
        var cache: gnutls_priority_t?
        let status = gnutls_priority_init(&cache, string, nil)
        guard status == GNUTLS_E_SUCCESS, let cache else {
            throw GnuTLSFailure.internalError("gnutls_priority_init", status)
        }
        priority = cache
        if side == .server {
            let status = gnutls_session_ticket_key_generate(&ticketKey)
            guard status == GNUTLS_E_SUCCESS else { throw GnuTLSFailure.internalError("gnutls_session_ticket_key_generate", status) }
        }
        self.alpn = alpn.map { p in
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: p.bytes.count)
            _ = buffer.initialize(from: p.bytes)
            return buffer
        }
    }

    deinit {
        gnutls_priority_deinit(priority)
        for buffer in alpn { buffer.deallocate() }
        if let data = ticketKey.data {
            explicit_bzero(data, Int(ticketKey.size))
            CTLSKitGnuTLSShims_gnutls_free(data)
        }
    }
}

/// A client context of the GnuTLS backend. Immutable once built; share it freely.
final class GnuTLSClientContext: TLSClientContext, @unchecked Sendable {
    // @unchecked: all stored properties are set in init and never mutated.
    let backendName = "gnutls"
    let configuration: TLSClientConfiguration
    let state: GnuTLSContextState

    init(configuration: TLSClientConfiguration, hooks: TLSContextHooks) throws(TLSError) {
        self.configuration = configuration
        let credentials = try GnuTLSCredentials()
        let pins = try GnuTLSTrust.pins(configuration.trustStore)
        if pins == nil {
            try credentials.addTrust(configuration.trustStore, field: "trustStore")
            try credentials.addRevocationLists(configuration.revocationLists, field: "revocationLists")
        }
        if let chain = configuration.certificateChain {
            try credentials.addChain(chain, field: "certificateChain")
        }
        state = try GnuTLSContextState(
            side: .client, settings: GnuTLSSettings(configuration), credentials: credentials,
            alpn: configuration.applicationProtocols, clientAuthentication: .none, hooks: hooks,
            insecure: configuration.insecureVerification, resumesSessions: configuration.resumesSessions,
            verification: GnuTLSVerificationSettings(
                pins: pins, crlIssuers: try GnuTLSTrust.crlIssuers(configuration.revocationLists),
                maximumChainLength: configuration.maximumChainLength,
                maximumResumptionAge: configuration.maximumResumptionAge),
            ocspStapling: configuration.ocspStapling)
        if configuration.securityPolicy.isCompatible {
            hooks.logger.warning(
                "TLSKit client context built with the 'compatible' security policy: legacy cipher suites and weaker keys are allowed")
        }
    }

    func makeConnection(serverName: TLSServerName?) throws(TLSError) -> any TLSConnection {
        try GnuTLSConnection(state: state, owner: self, serverName: .resolve(serverName, configured: configuration.serverName))
    }
}

/// A server context of the GnuTLS backend. Immutable once built; share it freely.
/// One generation of a server's chains: a credentials object per chain, with its leaf for
/// SNI matching. Connections keep the generation they started with.
final class GnuTLSServerChains: @unchecked Sendable {
    // @unchecked: set in init, then only read.
    let entries: [(credentials: GnuTLSCredentials, leaf: GnuTLSLeaf)]
    init(_ entries: [(credentials: GnuTLSCredentials, leaf: GnuTLSLeaf)]) { self.entries = entries }
}

/// A server context of the GnuTLS backend. Share it freely; only its chains change, by
/// ``replaceCertificateChains(_:)``.
final class GnuTLSServerContext: TLSServerContext, @unchecked Sendable {
    // @unchecked: `current` is read and replaced under `lock`; everything else is set in
    // init and never mutated.
    let backendName = "gnutls"
    let state: GnuTLSContextState
    /// The hook that picks a chain per ClientHello, and the chains it returned, loaded.
    let resolver: (@Sendable (TLSClientHelloInfo) -> TLSCertificateSelection)?
    let resolved = TLSResolvedChains<GnuTLSCredentials>()
    private let validate: @Sendable (TLSServerConfiguration) throws(TLSError) -> Void
    private let lock = TLSMutex()
    private var current: (configuration: TLSServerConfiguration, chains: GnuTLSServerChains)

    init(
        configuration: TLSServerConfiguration, hooks: TLSContextHooks,
        validate: @escaping @Sendable (TLSServerConfiguration) throws(TLSError) -> Void
    ) throws(TLSError) {
        self.validate = validate
        resolver = hooks.certificateResolver
        let chains = try Self.load(configuration, chains: configuration.certificateChains, origin: .configuration)
        current = (configuration, chains)
        // What client certificates are verified against (the paths TLSKit reports): trust
        // only, so no chain's key outlives a rotation in it.
        let verification = try GnuTLSCredentials()
        if let trust = configuration.trustStore, !trust.isPinned {
            try verification.addTrust(trust, field: "trustStore")
            try verification.addRevocationLists(configuration.revocationLists, field: "revocationLists")
        }
        // Tickets expire with the key lifetime or the resumption age, whichever is shorter;
        // GnuTLS measures it from the session's original time (see BackendDifferences.md).
        state = try GnuTLSContextState(
            side: .server, settings: GnuTLSSettings(configuration), credentials: verification,
            alpn: configuration.applicationProtocols,
            clientAuthentication: configuration.effectiveClientAuthentication, hooks: hooks,
            verification: GnuTLSVerificationSettings(
                pins: try configuration.trustStore.flatMap(GnuTLSTrust.pins),
                crlIssuers: try GnuTLSTrust.crlIssuers(configuration.revocationLists),
                maximumChainLength: configuration.maximumChainLength,
                maximumResumptionAge: configuration.maximumResumptionAge),
            ticketLifetimeSeconds: min(
                configuration.ticketKeyLifetime.components.seconds, configuration.maximumResumptionAge.components.seconds),
            sessionTicketCount: configuration.sessionTicketCount)
        if configuration.securityPolicy.isCompatible {
            hooks.logger.warning(
                "TLSKit server context built with the 'compatible' security policy: legacy cipher suites and weaker keys are allowed")
        }
    }

    /// The configuration, with the chains presented now.
    var configuration: TLSServerConfiguration { lock.withLock { current.configuration } }

    func makeConnection() throws(TLSError) -> any TLSConnection {
        try GnuTLSConnection(state: state, owner: self, serverName: nil, server: self, chains: lock.withLock { current.chains })
    }

    func replaceCertificateChains(_ chains: [TLSSigningChain]) throws(TLSError) {
        var configuration = self.configuration
        configuration.certificateChains = chains
        try validate(configuration)
        let loaded = try Self.load(configuration, chains: chains, origin: .configuration)
        lock.withLock { current = (configuration, loaded) }
        resolved.removeAll()
    }

    /// Loads `chain` (for the resolver) as a credentials object of its own, with the
    /// context's trust store for client certificates.
    func loadResolved(_ chain: TLSSigningChain) throws(TLSError) -> GnuTLSCredentials {
        let configuration = self.configuration
        return try resolved.loaded(chain) { chain throws(TLSError) in
            try Self.load(configuration, chains: [chain], origin: .resolver).entries[0].credentials
        }
    }

    /// One credentials object per chain: after the ClientHello a session switches to the
    /// first chain whose leaf is valid for the SNI name (as the OpenSSL backend does).
    private static func load(
        _ configuration: TLSServerConfiguration, chains: [TLSSigningChain], origin: TLSChainOrigin
    ) throws(TLSError) -> GnuTLSServerChains {
        var entries: [(credentials: GnuTLSCredentials, leaf: GnuTLSLeaf)] = []
        for (index, chain) in chains.enumerated() {
            let credentials = try GnuTLSCredentials()
            let chainField = origin.field(index)
            let leaf = try credentials.addChain(chain, field: chainField)
            if let ocsp = chain.ocspResponse {
                try credentials.setStapledResponse(try ocsp.load(field: "\(chainField).ocspResponse"), field: "\(chainField).ocspResponse")
            }
            if let trust = configuration.trustStore, !trust.isPinned {
                try credentials.addTrust(trust, field: "trustStore")
                try credentials.addRevocationLists(configuration.revocationLists, field: "revocationLists")
            }
            entries.append((credentials, leaf))
        }
        return GnuTLSServerChains(entries)
    }
}

/// A GnuTLS session's resumption data (it holds the session's secret): kept in zeroing
/// storage in a client context's cache.
final class GnuTLSSessionTicket: Sendable {
    let data: TLSSecureBytes
    init(_ data: TLSSecureBytes) { self.data = data }
}

/// The verification settings a context's sessions read, fixed when the context is built.
struct GnuTLSVerificationSettings {
    var pins: Set<[UInt8]>?
    var crlIssuers: Set<[UInt8]>?
    var maximumChainLength: Int?
    var maximumResumptionAge: Duration
}

/// Trust settings the credentials object does not hold.
enum GnuTLSTrust {
    /// The pinned key hashes of a pinned trust store; `nil` for any other store.
    static func pins(_ trust: TLSTrustStore) throws(TLSError) -> Set<[UInt8]>? {
        guard case .pinned(let keys, let certificates) = trust.source else { return nil }
        var pins = Set(keys.map(\.sha256))
        for (index, certificate) in certificates.enumerated() {
            for der in try GnuTLSCertificates.load(certificate, field: "trustStore.pinned[\(index)]") {
                guard let hash = GnuTLSPeerChain.spkiSHA256(der) else {
                    throw TLSError.configuration(field: "trustStore.pinned[\(index)]", "the certificate's public key cannot be read")
                }
                pins.insert(hash)
            }
        }
        return pins
    }

    /// The CRL issuers, when CRLs are given.
    static func crlIssuers(_ lists: [TLSRevocationList]) throws(TLSError) -> Set<[UInt8]>? {
        lists.isEmpty ? nil : try GnuTLSPeerChain.crlIssuers(lists, field: "revocationLists")
    }
}
