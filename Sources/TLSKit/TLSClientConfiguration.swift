/// Everything a TLS client decides, as plain data.
///
/// `TLSClientConfiguration()` is a secure, working configuration: TLS 1.2 or 1.3, the
/// system's trusted roots, the server's certificate and host name verified, no client
/// certificate, no ALPN. Change fields with `var` assignments; `nil` always means "the
/// backend's default under ``securityPolicy``", and each property says what that is.
///
/// The configuration holds no closures: hooks (verification, key logging) are attached to
/// the context. A configuration is checked by ``TLSBackend/validate(_:)-(TLSClientConfiguration)``
/// and turned into a ``TLSClientContext`` by ``TLSBackend/makeClientContext(_:hooks:)``;
/// changing it afterwards does not affect contexts already built.
///
/// Value type; `Sendable`, `Hashable`.
public struct TLSClientConfiguration: Hashable, Sendable {
    /// The certificate chain and key to present when the server asks for one (mutual
    /// TLS). Default `nil`: no client certificate is sent.
    public var certificateChain: TLSSigningChain?
    /// The cipher suites to offer, most preferred first; TLS 1.2 and TLS 1.3 suites may be
    /// mixed, and each version uses its own. Default `nil`: the backend's list for
    /// ``securityPolicy``. An empty list is a configuration error.
    public var cipherSuites: [TLSCipherSuite]?
    /// ALPN protocols to offer, most preferred first. Default empty: no ALPN extension.
    /// If the server picks none, ``TLSConnectionInfo/applicationProtocol`` is `nil`.
    public var applicationProtocols: [TLSApplicationProtocol]
    /// The lowest version to negotiate. Default `nil`: TLS 1.2 (TLS 1.3 under
    /// ``TLSSecurityPolicy/modern``). Below TLS 1.2 only with ``TLSSecurityPolicy/compatible``.
    public var minimumVersion: TLSProtocolVersion?
    /// The highest version to negotiate. Default `nil`: TLS 1.3.
    public var maximumVersion: TLSProtocolVersion?
    /// The roots the server's chain must lead to. Default ``TLSTrustStore/system``.
    public var trustStore: TLSTrustStore
    /// The policy whose defaults fill the `nil` fields. Default
    /// ``TLSSecurityPolicy/systemDefault``.
    public var securityPolicy: TLSSecurityPolicy
    /// Key-exchange groups to offer, most preferred first. Default `nil`: the backend's
    /// list (for OpenSSL 3.0: x25519, secp256r1, x448, secp521r1, secp384r1, ffdhe…).
    public var keyExchangeGroups: [TLSNamedGroup]?
    /// The name to send as SNI and to verify the server's certificate against, unless the
    /// connection is made with its own name (``TLSClientContext/makeConnection(serverName:)``).
    /// Default `nil`: every connection must be given a name.
    public var serverName: TLSServerName?
    /// Whether the client context keeps the session tickets servers send and offers the
    /// latest one when it connects to the same server name again (an abbreviated handshake;
    /// ``TLSConnectionInfo/resumed`` tells). Each ticket is offered once. Default `true`.
    public var resumesSessions: Bool
    /// Verify the server's certificates as of this time instead of now (devices without a
    /// trusted clock; tests). Default `nil`: the current time. Backends without
    /// ``TLSFeature/verificationTime`` refuse a non-`nil` value.
    public var verificationTime: TLSVerificationTime?
    /// OCSP stapling: ask the server for its certificate's OCSP response and verify it
    /// (``TLSConnectionInfo/ocspResponse`` has it). Default ``TLSOCSPStapling/checkIfStapled``:
    /// a stapled response must verify and say "good", and a must-staple certificate needs
    /// one. A resumed session relies on the check of the full handshake it comes from.
    public var ocspStapling: TLSOCSPStapling
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
    /// Backend-specific settings (see ``TLSBackendOptionKey``). Default: empty.
    public var backendOptions: TLSBackendOptions

    /// A secure default client configuration; see the type's documentation.
    public init(
        trustStore: TLSTrustStore = .system,
        serverName: TLSServerName? = nil,
        certificateChain: TLSSigningChain? = nil,
        applicationProtocols: [TLSApplicationProtocol] = []
    ) {
        self.certificateChain = certificateChain
        self.cipherSuites = nil
        self.applicationProtocols = applicationProtocols
        self.minimumVersion = nil
        self.maximumVersion = nil
        self.trustStore = trustStore
        self.securityPolicy = .systemDefault
        self.keyExchangeGroups = nil
        self.serverName = serverName
        self.verificationTime = nil
        self.resumesSessions = true
        self.ocspStapling = .checkIfStapled
        self.maximumChainLength = nil
        self.revocationLists = []
        self.maximumResumptionAge = .seconds(24 * 3600)
        self.backendOptions = TLSBackendOptions()
    }

    /// The version range this configuration asks for, after applying the policy.
    ///
    /// - Throws: ``TLSError/Code/configuration`` when the bounds contradict each other or
    ///   the policy.
    public func effectiveVersionRange() throws(TLSError) -> ClosedRange<TLSProtocolVersion> {
        try resolveVersionRange(minimumVersion, maximumVersion, securityPolicy)
    }
}

func resolveVersionRange(
    _ minimum: TLSProtocolVersion?,
    _ maximum: TLSProtocolVersion?,
    _ policy: TLSSecurityPolicy
) throws(TLSError) -> ClosedRange<TLSProtocolVersion> {
    let known: [TLSProtocolVersion] = [.tls1_0, .tls1_1, .tls1_2, .tls1_3]
    for (field, v) in [("minimumVersion", minimum), ("maximumVersion", maximum)] {
        if let v, !known.contains(v) {
            throw TLSError.configuration(field: field, "\(v) is not a TLS version TLSKit can negotiate (1.0 to 1.3)")
        }
    }
    let floor = policy.isCompatible ? TLSProtocolVersion.tls1_2 : policy.floor
    let low = minimum ?? floor
    let high = maximum ?? .tls1_3
    if low < policy.floor {
        throw TLSError.configuration(
            field: "minimumVersion",
            "\(low) is below the floor of the '\(policy)' security policy (\(policy.floor)); "
                + (policy.isModern ? "use .systemDefault to allow TLS 1.2" : "use .compatible to allow TLS 1.0/1.1")
        )
    }
    if high < policy.floor {
        throw TLSError.configuration(
            field: "maximumVersion",
            "\(high) is below the floor of the '\(policy)' security policy (\(policy.floor))"
        )
    }
    if low > high {
        throw TLSError.configuration(
            field: "minimumVersion",
            "the minimum version \(low) is above the maximum version \(high)"
        )
    }
    return low...high
}

/// The verification settings both sides share: pins, CRLs, resumption age.
func validateVerification(
    trustStore: TLSTrustStore?, revocationLists: [TLSRevocationList], maximumResumptionAge: Duration
) throws(TLSError) {
    guard maximumResumptionAge >= .seconds(1), maximumResumptionAge <= .seconds(7 * 24 * 3600) else {
        throw TLSError.configuration(
            field: "maximumResumptionAge",
            "must be between 1 second and 7 days (RFC 8446 §4.6.1); to turn resumption off, set resumesSessions = false")
    }
    guard let trustStore else {
        if !revocationLists.isEmpty {
            throw TLSError.configuration(
                field: "revocationLists",
                "CRLs are set but no trustStore: nothing would be checked against them; set trustStore "
                    + "(which requests client certificates) or remove the CRLs")
        }
        return
    }
    try trustStore.validatePins(field: "trustStore")
    if trustStore.isPinned, !revocationLists.isEmpty {
        throw TLSError.configuration(
            field: "revocationLists",
            "CRLs cannot be checked against a pinned trust store (no chain is built); remove them or trust a CA")
    }
}

func validateCommon(
    cipherSuites: [TLSCipherSuite]?,
    keyExchangeGroups: [TLSNamedGroup]?,
    versions: ClosedRange<TLSProtocolVersion>
) throws(TLSError) {
    if let cipherSuites {
        if cipherSuites.isEmpty {
            throw TLSError.configuration(field: "cipherSuites", "the list is empty; use nil for the backend's defaults")
        }
        // Each version that may be negotiated needs at least one suite of its own.
        if versions.upperBound >= .tls1_3, !cipherSuites.contains(where: \.isTLS13) {
            throw TLSError.configuration(
                field: "cipherSuites",
                "no TLS 1.3 suite is listed although TLS 1.3 may be negotiated; "
                    + "add one (e.g. .tlsAES128GCMSHA256) or set maximumVersion = .tls1_2")
        }
        if versions.lowerBound <= .tls1_2, !cipherSuites.contains(where: { !$0.isTLS13 }) {
            throw TLSError.configuration(
                field: "cipherSuites",
                "no TLS 1.2 suite is listed although TLS 1.2 may be negotiated; "
                    + "add one (e.g. .ecdheECDSAWithAES128GCMSHA256) or set minimumVersion = .tls1_3")
        }
    }
    if let keyExchangeGroups, keyExchangeGroups.isEmpty {
        throw TLSError.configuration(
            field: "keyExchangeGroups", "the list is empty; use nil for the backend's defaults")
    }
}

extension TLSClientConfiguration {
    /// Checks what can be checked without a backend: version bounds against the policy,
    /// empty lists. Backends call this first in their own `validate`.
    public func validateBackendNeutral() throws(TLSError) {
        if let maximumChainLength, maximumChainLength < 1 {
            throw TLSError.configuration(field: "maximumChainLength", "must be at least 1 (the leaf alone)")
        }
        try validateCommon(
            cipherSuites: cipherSuites, keyExchangeGroups: keyExchangeGroups, versions: effectiveVersionRange())
        try validateVerification(
            trustStore: trustStore, revocationLists: revocationLists, maximumResumptionAge: maximumResumptionAge)
        if ocspStapling == .require, trustStore.isPinned {
            throw TLSError.configuration(
                field: "ocspStapling",
                ".require needs a CA to verify OCSP responses against, and a pinned trust store has none; "
                    + "use .checkIfStapled or .ignore with pins, or trust the server's CA")
        }
    }
}

/// A moment to verify certificates at, as seconds since 1970-01-01T00:00:00Z (UTC).
public struct TLSVerificationTime: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Seconds since the Unix epoch.
    public var secondsSince1970: Int64
    /// A moment, as seconds since the Unix epoch.
    public init(secondsSince1970: Int64) { self.secondsSince1970 = secondsSince1970 }
    public static func < (l: TLSVerificationTime, r: TLSVerificationTime) -> Bool { l.secondsSince1970 < r.secondsSince1970 }
    public var description: String { "\(secondsSince1970)s since 1970" }
}
