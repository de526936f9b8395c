public import Logging

/// A TLS implementation that TLSKit can drive (OpenSSL 3, GnuTLS, …).
///
/// Backends are chosen explicitly — there is no hidden global default:
/// ```swift
/// let backend = try OpenSSLBackend()
/// let context = try backend.makeClientContext(TLSClientConfiguration())
/// ```
/// A backend value is cheap to copy and `Sendable`. Building a context is expensive
/// (credentials are loaded and parsed, files read): build contexts once and share them.
public protocol TLSBackend: Sendable {
    /// A short, stable name: `"openssl"`, `"gnutls"`.
    var name: String { get }
    /// The name and version of the library underneath, e.g. `OpenSSL 3.0.19 …`.
    var libraryVersion: String { get }
    /// What this backend can do, so callers can decide before building anything.
    var capabilities: TLSBackendCapabilities { get }

    /// Checks that this backend can honour `configuration`, without loading credentials.
    ///
    /// - Throws: ``TLSError/Code/configuration`` or ``TLSError/Code/unsupportedFeature``
    ///   naming the field.
    func validate(_ configuration: TLSClientConfiguration) throws(TLSError)
    /// Checks that this backend can honour `configuration`, without loading credentials.
    func validate(_ configuration: TLSServerConfiguration) throws(TLSError)

    /// Builds a client context: validates, loads trust store and credentials.
    ///
    /// > Note: expensive and may block on file I/O; do it once, not per connection.
    func makeClientContext(_ configuration: TLSClientConfiguration, hooks: TLSContextHooks) throws(TLSError)
        -> any TLSClientContext
    /// Builds a server context: validates, loads every signing chain and the trust store.
    ///
    /// > Note: expensive and may block on file I/O; do it once, not per connection.
    func makeServerContext(_ configuration: TLSServerConfiguration, hooks: TLSContextHooks) throws(TLSError)
        -> any TLSServerContext
}

extension TLSBackend {
    /// Builds a client context with no hooks.
    public func makeClientContext(_ configuration: TLSClientConfiguration) throws(TLSError) -> any TLSClientContext {
        try makeClientContext(configuration, hooks: TLSContextHooks())
    }
    /// Builds a server context with no hooks.
    public func makeServerContext(_ configuration: TLSServerConfiguration) throws(TLSError) -> any TLSServerContext {
        try makeServerContext(configuration, hooks: TLSContextHooks())
    }
}

/// Behaviour attached to a context rather than stored in a configuration (which holds
/// only data). Default: nothing attached.
public struct TLSContextHooks: Sendable {
    /// Where the backend reports warnings (a weak security policy, a deprecated setting).
    /// Default: a logger labelled `tlskit`.
    public var logger: Logger
    /// The checks run after the backend's own verification, in order; all must accept
    /// (see ``TLSVerificationPolicy`` for when they run, resumption included). Default:
    /// none.
    public var verificationPolicies: [TLSVerificationPolicy] = []
    /// A check run after ``verificationPolicies``, for a one-off closure. It can only add
    /// checks, never waive one. Returning ``TLSPeerVerificationDecision/reject(_:)``
    /// aborts the handshake with an alert, and the error is a
    /// ``TLSError/Code/certificateVerification`` with reason
    /// ``TLSVerificationFailure/Reason/rejectedByHook`` and your text. It runs on every
    /// handshake in which the peer's certificate is known, as policies do (also when
    /// chain verification is switched off, and on resumption). On a server it runs only
    /// when the client sent a certificate. Default `nil`.
    ///
    /// The hook runs synchronously on the thread driving the connection; keep it fast and
    /// do not block. A check that must wait (a network service) belongs in an asynchronous
    /// policy instead: ``TLSVerificationPolicy/init(name:evaluateAsync:)``, for which a
    /// client's handshake can be suspended (``TLSHandshakeStatus/verificationPending``).
    public var verifyPeer: (@Sendable (TLSPeerVerificationRequest) -> TLSPeerVerificationDecision)?
    /// Servers: picks the chain to present for each full handshake, from the client's
    /// server name, signature schemes and ALPN offer (as Go's `GetCertificate`, rustls'
    /// `ResolvesServerCert` and Python's `sni_callback` do). Default `nil`: the context
    /// picks among ``TLSServerConfiguration/certificateChains`` by server name.
    ///
    /// - A returned ``TLSCertificateSelection/chain(_:)`` is loaded the first time it is
    ///   returned, in the handshake that asked (keys in a TPM or on a token take as long as
    ///   their store does), and kept by its description (up to ``resolvedChainCapacity``,
    ///   least recently used dropped). ``TLSServerContext/replaceCertificateChains(_:)``
    ///   forgets them, so a file that changed is read again.
    /// - A chain that cannot be loaded fails that handshake with `internal_error` and a
    ///   ``TLSError/Code/configuration`` error naming `certificateResolver` and the cause;
    ///   ``TLSCertificateSelection/reject(_:)`` fails it with `unrecognized_name`.
    /// - It may be asked for a handshake that then resumes a session (the ClientHello comes
    ///   before the server decides); the chain it returns is then not sent.
    ///
    /// Runs synchronously on the thread driving the connection: keep it fast and do not
    /// block.
    public var certificateResolver: (@Sendable (TLSClientHelloInfo) -> TLSCertificateSelection)?
    /// Behaviour other modules attach (key logging from TLSKitInsecure). Default: empty.
    public var extensions: TLSHookExtensions = TLSHookExtensions()

    /// Hooks; by default warnings go to the `tlskit` logger and nothing else is attached.
    public init(
        logger: Logger = Logger(label: "tlskit"),
        verificationPolicies: [TLSVerificationPolicy] = [],
        verifyPeer: (@Sendable (TLSPeerVerificationRequest) -> TLSPeerVerificationDecision)? = nil
    ) {
        self.logger = logger
        self.verificationPolicies = verificationPolicies
        self.verifyPeer = verifyPeer
    }
}

/// What a peer-verification hook is told.
public struct TLSPeerVerificationRequest: Sendable {
    /// Our side of the connection (`.server`: we are checking a client's certificate).
    public let side: TLSSide
    /// The peer's certificates as presented, leaf first, DER. Never empty.
    public let peerCertificates: [[UInt8]]
    /// Client: the name the certificate was verified against. Server: the SNI received.
    public let serverName: String?
    /// The ALPN protocol negotiated so far, if any.
    public let applicationProtocol: TLSApplicationProtocol?
    /// The chain the backend verified: the path of issuer links from the leaf to the first
    /// trust anchor, leaf first, DER. The same for the same inputs on every backend. Just
    /// the leaf when the trust store pins keys; empty when chain verification was switched
    /// off (``backendVerification`` is then ``TLSPeerVerification/insecurelySkipped``).
    public let verifiedChain: [[UInt8]]
    /// What the backend established before the policies run: `.verified` (a chain to a
    /// trusted root, and on a client the server's name), `.pinned` (the leaf's key is one
    /// of the trust store's pins) or `.insecurelySkipped` (TLSKitInsecure).
    public let backendVerification: TLSPeerVerification
    /// `true` when the peer is not presenting certificates in this handshake but resuming
    /// a session: the certificates are those remembered from the full handshake.
    public let resumed: Bool

    /// Creates a request (for backends).
    public init(
        side: TLSSide, peerCertificates: [[UInt8]], serverName: String?, applicationProtocol: TLSApplicationProtocol?,
        verifiedChain: [[UInt8]] = [], backendVerification: TLSPeerVerification = .verified, resumed: Bool = false
    ) {
        self.side = side
        self.peerCertificates = peerCertificates
        self.serverName = serverName
        self.applicationProtocol = applicationProtocol
        self.verifiedChain = verifiedChain
        self.backendVerification = backendVerification
        self.resumed = resumed
    }
}

/// A peer-verification hook's answer.
public enum TLSPeerVerificationDecision: Hashable, Sendable {
    /// Go on with the handshake.
    case accept
    /// Abort the handshake; the text becomes part of the error on this side.
    case reject(String)
}

/// A feature a backend may or may not have (an extensible set).
public struct TLSFeature: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The feature's stable name.
    public var rawValue: String
    /// Names a feature (backends may define their own).
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Sans-I/O connections (bytes in, bytes out).
    public static let sansIO = TLSFeature(rawValue: "sansIO")
    /// ALPN (RFC 7301).
    public static let alpn = TLSFeature(rawValue: "alpn")
    /// A server choosing among several certificate chains by SNI.
    public static let serverNameSelection = TLSFeature(rawValue: "serverNameSelection")
    /// Client certificates (mutual TLS), both sides.
    public static let clientCertificates = TLSFeature(rawValue: "clientCertificates")
    /// The operating system's trust store.
    public static let systemTrustStore = TLSFeature(rawValue: "systemTrustStore")
    /// Trust stores from bytes and files.
    public static let customTrustStore = TLSFeature(rawValue: "customTrustStore")
    /// Choosing TLS 1.2 cipher suites.
    public static let tls12CipherSuites = TLSFeature(rawValue: "tls12CipherSuites")
    /// Choosing TLS 1.3 cipher suites.
    public static let tls13CipherSuites = TLSFeature(rawValue: "tls13CipherSuites")
    /// Choosing key-exchange groups.
    public static let keyExchangeGroups = TLSFeature(rawValue: "keyExchangeGroups")
    /// Hostname verification against IP-address subjectAltNames.
    public static let ipAddressVerification = TLSFeature(rawValue: "ipAddressVerification")
    /// Keys and certificates loaded by identifier from a store (URIs).
    public static let keyIdentifiers = TLSFeature(rawValue: "keyIdentifiers")
    /// Encrypted private keys (passphrases).
    public static let encryptedKeys = TLSFeature(rawValue: "encryptedKeys")
    /// Verifying certificates as of a given time (``TLSClientConfiguration/verificationTime``).
    public static let verificationTime = TLSFeature(rawValue: "verificationTime")
    /// Private keys and certificates on PKCS#11 tokens, by `pkcs11:` URI (RFC 7512).
    public static let pkcs11Keys = TLSFeature(rawValue: "pkcs11Keys")
    /// Private keys held in a TPM 2.0 (`handle:` identifiers or TSS2 key files).
    public static let tpmKeys = TLSFeature(rawValue: "tpmKeys")
    /// Any list of cipher suites can be enabled exactly as given. Without it, a backend
    /// enables suites by component (key exchange × cipher × MAC) and refuses lists that are
    /// not closed under that product.
    public static let exactCipherSuiteSelection = TLSFeature(rawValue: "exactCipherSuiteSelection")
    /// A server picking its chain per ClientHello (``TLSContextHooks/certificateResolver``).
    public static let certificateResolver = TLSFeature(rawValue: "certificateResolver")
    /// Swapping a live server context's chains (``TLSServerContext/replaceCertificateChains(_:)``).
    public static let certificateRotation = TLSFeature(rawValue: "certificateRotation")
    /// OCSP stapling: servers staple ``TLSSigningChain/ocspResponse``; clients verify what
    /// is stapled (``TLSClientConfiguration/ocspStapling``).
    public static let ocspStapling = TLSFeature(rawValue: "ocspStapling")
    /// Private keys held by a ``TLSSigner`` (``TLSPrivateKey/signer(_:name:)``): the backend
    /// hands it digests to sign.
    public static let customSigners = TLSFeature(rawValue: "customSigners")

    public var description: String { rawValue }
}

/// What a backend can do. Value type; `Sendable`.
public struct TLSBackendCapabilities: Hashable, Sendable {
    /// The protocol versions the backend can negotiate.
    public var versions: Set<TLSProtocolVersion>
    /// The features the backend has.
    public var features: Set<TLSFeature>
    /// The cipher suites the backend can negotiate (IANA codes).
    public var cipherSuites: [TLSCipherSuite]
    /// The key-exchange groups the backend can use.
    public var keyExchangeGroups: [TLSNamedGroup]
    /// URI schemes accepted by ``TLSPrivateKey/identifier(_:passphrase:)`` with the
    /// providers currently loaded (e.g. `file`, `handle`, `pkcs11`).
    public var identifierSchemes: [String]

    /// Creates a capability description.
    public init(
        versions: Set<TLSProtocolVersion>,
        features: Set<TLSFeature>,
        cipherSuites: [TLSCipherSuite],
        keyExchangeGroups: [TLSNamedGroup],
        identifierSchemes: [String]
    ) {
        self.versions = versions
        self.features = features
        self.cipherSuites = cipherSuites
        self.keyExchangeGroups = keyExchangeGroups
        self.identifierSchemes = identifierSchemes
    }

    /// `true` when the backend has `feature`.
    public func supports(_ feature: TLSFeature) -> Bool { features.contains(feature) }
}

/// A client context: a validated configuration with its credentials loaded, ready to make
/// connections.
///
/// Thread-safety: immutable once built; share it freely across threads and tasks.
/// Building one is expensive, making connections from it is cheap.
public protocol TLSClientContext: AnyObject, Sendable {
    /// The backend that built this context.
    var backendName: String { get }
    /// The configuration the context was built from.
    var configuration: TLSClientConfiguration { get }
    /// Makes a new connection that will verify the server against `serverName` (and send
    /// it as SNI when it is a DNS name).
    ///
    /// - Parameter serverName: overrides ``TLSClientConfiguration/serverName``; one of the
    ///   two must be set.
    /// - Throws: ``TLSError/Code/configuration`` when no server name is known.
    func makeConnection(serverName: TLSServerName?) throws(TLSError) -> any TLSConnection
}

extension TLSClientContext {
    /// Makes a connection to the configuration's ``TLSClientConfiguration/serverName``.
    public func makeConnection() throws(TLSError) -> any TLSConnection {
        try makeConnection(serverName: nil)
    }
}

/// A server context: a validated configuration with its chains loaded.
///
/// Thread-safety: share it freely. Only its chains change, and only through
/// ``replaceCertificateChains(_:)``.
public protocol TLSServerContext: AnyObject, Sendable {
    /// The backend that built this context.
    var backendName: String { get }
    /// The configuration the context was built from, with the chains it presents now.
    var configuration: TLSServerConfiguration { get }
    /// Makes a new server-side connection.
    func makeConnection() throws(TLSError) -> any TLSConnection
    /// Swaps the chains the context presents (certificate rotation), without a restart.
    ///
    /// Every new chain is loaded first; if one fails, this throws (naming
    /// `certificateChains[i]`) and the context keeps presenting the old ones. After it
    /// returns, connections made from then on present the new chains; connections made
    /// before keep theirs, in the handshake and after. Session tickets issued before stay
    /// valid (the ticket keys are the context's, not a chain's), and chains a
    /// ``TLSContextHooks/certificateResolver`` returned are loaded again on next use.
    ///
    /// - Throws: ``TLSError/Code/configuration`` for an empty list or a chain that does not
    ///   load; other codes as ``TLSBackend/makeServerContext(_:hooks:)``.
    func replaceCertificateChains(_ chains: [TLSSigningChain]) throws(TLSError)
}
