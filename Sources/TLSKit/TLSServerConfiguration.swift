/// Everything a TLS server decides, as plain data.
///
/// The one required decision is what to present: `TLSServerConfiguration(certificateChain:)`.
/// Everything else has a secure default: TLS 1.2 or 1.3, the backend's cipher suites under
/// ``securityPolicy``, no client certificates requested, no ALPN.
///
/// Several ``certificateChains`` may be given: the server picks, for each connection, the
/// first chain whose leaf certificate is valid for the server name the client sent (SNI),
/// and the first chain when none matches or no name was sent.
///
/// Value type; `Sendable`, `Hashable`.
public struct TLSServerConfiguration: Hashable, Sendable {
    /// How the server treats client certificates.
    public enum ClientAuthentication: Hashable, Sendable {
        /// Do not ask for a client certificate.
        case none
        /// Ask for one; verify it against ``TLSServerConfiguration/trustStore`` if sent, and
        /// accept clients that send none.
        case optional
        /// Ask for one and fail the handshake unless the client sends one that verifies.
        case required
    }

    /// The chains to present, chosen by SNI; the first is the default. Must not be empty.
    public var certificateChains: [TLSSigningChain]
    /// The cipher suites to accept, most preferred first (the server's order wins).
    /// Default `nil`: the backend's list for ``securityPolicy``.
    public var cipherSuites: [TLSCipherSuite]?
    /// ALPN protocols the server speaks, most preferred first. When the client offers
    /// ALPN and none of these, the handshake fails with `no_application_protocol`.
    /// Default empty: ALPN is ignored.
    public var applicationProtocols: [TLSApplicationProtocol]
    /// The lowest version to accept. Default `nil`: TLS 1.2 (1.3 under `.modern`).
    public var minimumVersion: TLSProtocolVersion?
    /// The highest version to accept. Default `nil`: TLS 1.3.
    public var maximumVersion: TLSProtocolVersion?
    /// The roots client certificates must lead to. Default `nil`: no client certificates
    /// are requested. Setting it makes ``clientAuthentication`` default to `.required`.
    public var trustStore: TLSTrustStore?
    /// Whether to request client certificates. Default `nil`: `.required` when
    /// ``trustStore`` is set, `.none` otherwise. `.optional` and `.required` need a trust
    /// store.
    public var clientAuthentication: ClientAuthentication?
    /// The policy whose defaults fill the `nil` fields. Default `.systemDefault`.
    public var securityPolicy: TLSSecurityPolicy
    /// Key-exchange groups to accept, most preferred first. Default `nil`: the backend's.
    public var keyExchangeGroups: [TLSNamedGroup]?
    /// How long a session-ticket key encrypts new tickets before the next one takes over.
    /// Tickets made under the previous key are still accepted (and renewed) for one more
    /// period; older ones get a full handshake. Default 12 hours.
    public var ticketKeyLifetime: Duration
    /// Verify client certificates as of this time instead of now. Default `nil`: now.
    public var verificationTime: TLSVerificationTime?
    /// CRLs to check the peer's chain against. Default empty: no revocation checking.
    /// With the OpenSSL backend the leaf's issuer must then have a CRL here, or verification
    /// fails; GnuTLS checks the CRLs it has. A revoked certificate fails with
    /// ``TLSVerificationFailure/Reason/revoked``.
    public var revocationLists: [TLSRevocationList]
    /// The longest peer chain accepted: the number of certificates from the peer's leaf to
    /// the trust anchor, both counted. Default `nil`: the backend's limit (OpenSSL 100,
    /// GnuTLS 16). A longer chain fails with ``TLSVerificationFailure/Reason/chainTooLong``.
    public var maximumChainLength: Int?
    /// How long after the peer was last fully verified a session may still be resumed.
    /// Resumption skips the certificate exchange, so this bounds how long a peer whose
    /// certificate was revoked, or that a policy would now reject, can keep coming back.
    /// The age counts from the full handshake: tickets issued on a resumed connection
    /// inherit it, so renewing a ticket never extends it. On resumption the peer's
    /// remembered leaf certificate must also still be within its validity period, and the
    /// context's verification policies are asked again. Between 1 second and 7 days
    /// (RFC 8446 §4.6.1). Default 24 hours.
    public var maximumResumptionAge: Duration
    /// How many TLS 1.3 session tickets the server sends after a full handshake, each
    /// good for one resumption (RFC 8446 §4.6.1 advises single use, so a client that opens
    /// several connections at once wants several). Between 0 (no TLS 1.3 resumption) and
    /// 16. TLS 1.2 clients get one ticket in the handshake regardless. Compare Python's
    /// `SSLContext.num_tickets` and rustls' `send_tls13_tickets`. Default 2, OpenSSL's.
    public var sessionTicketCount: Int
    /// Backend-specific settings (see ``TLSBackendOptionKey``). Default: empty.
    public var backendOptions: TLSBackendOptions

    /// A server configuration presenting `certificateChain`, with secure defaults.
    public init(certificateChain: TLSSigningChain) {
        self.init(certificateChains: [certificateChain])
    }

    /// A server configuration presenting one of `certificateChains`, chosen by SNI.
    public init(certificateChains: [TLSSigningChain]) {
        self.certificateChains = certificateChains
        self.cipherSuites = nil
        self.applicationProtocols = []
        self.minimumVersion = nil
        self.maximumVersion = nil
        self.trustStore = nil
        self.clientAuthentication = nil
        self.securityPolicy = .systemDefault
        self.keyExchangeGroups = nil
        self.verificationTime = nil
        self.ticketKeyLifetime = .seconds(12 * 3600)
        self.maximumChainLength = nil
        self.revocationLists = []
        self.maximumResumptionAge = .seconds(24 * 3600)
        self.sessionTicketCount = 2
        self.backendOptions = TLSBackendOptions()
    }

    /// The client-authentication mode after applying the defaults.
    public var effectiveClientAuthentication: ClientAuthentication {
        clientAuthentication ?? (trustStore == nil ? .none : .required)
    }

    /// The version range this configuration accepts, after applying the policy.
    public func effectiveVersionRange() throws(TLSError) -> ClosedRange<TLSProtocolVersion> {
        try resolveVersionRange(minimumVersion, maximumVersion, securityPolicy)
    }

    /// Checks what can be checked without a backend. Backends call this first.
    public func validateBackendNeutral() throws(TLSError) {
        if let maximumChainLength, maximumChainLength < 1 {
            throw TLSError.configuration(field: "maximumChainLength", "must be at least 1 (the leaf alone)")
        }
        guard (0...16).contains(sessionTicketCount) else {
            throw TLSError.configuration(
                field: "sessionTicketCount",
                "must be between 0 and 16 (\(sessionTicketCount) given); 0 turns TLS 1.3 resumption off")
        }
        guard ticketKeyLifetime >= .seconds(1) else {
            throw TLSError.configuration(field: "ticketKeyLifetime", "must be at least one second")
        }
        guard !certificateChains.isEmpty else {
            throw TLSError.configuration(field: "certificateChains", "a server needs at least one certificate chain")
        }
        try validateCommon(
            cipherSuites: cipherSuites, keyExchangeGroups: keyExchangeGroups, versions: effectiveVersionRange())
        try validateVerification(
            trustStore: trustStore, revocationLists: revocationLists, maximumResumptionAge: maximumResumptionAge)
        switch (clientAuthentication, trustStore) {
        case (.optional?, nil), (.required?, nil):
            throw TLSError.configuration(
                field: "clientAuthentication",
                "client certificates are requested but no trustStore is set to verify them against"
            )
        case (ClientAuthentication.none?, _?):
            throw TLSError.configuration(
                field: "trustStore",
                "a trust store for client certificates is set, but clientAuthentication is .none; "
                    + "remove the trust store or choose .optional/.required"
            )
        default:
            break
        }
    }
}
