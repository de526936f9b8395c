internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
public import TLSKit
import TLSKitInsecure

#if canImport(Glibc)
import Glibc
#endif

/// The OpenSSL 3 backend: TLSKit over the system's libssl (3.0 or newer).
///
/// Each `OpenSSLBackend` value has its own OpenSSL library context (`OSSL_LIB_CTX`) with
/// exactly the providers it was asked to load, in that order, and a property query used
/// for every algorithm fetch of its contexts. Copies share one library context, which is
/// freed when the last copy (and every context built from it) is gone.
///
/// ```swift
/// let backend = try OpenSSLBackend()                       // the "default" provider
/// let tpm = try OpenSSLBackend(
///     providers: [.default, .tpm2(tcti: "swtpm:host=127.0.0.1,port=2321")], propertyQuery: "?tpm2.signature")
/// let token = try OpenSSLBackend(engines: [.pkcs11()])      // pkcs11: keys through libp11 (opt-in)
/// ```
///
/// Thread-safety: `Sendable`; contexts built from it may be used from any thread.
public struct OpenSSLBackend: TLSBackend {
    /// `"openssl"`.
    public let name = "openssl"
    let library: OpenSSLLibraryContext

    /// Creates a backend with its own library context.
    ///
    /// - Parameters:
    ///   - providers: OpenSSL providers to load, in order, with their settings. Default
    ///     `[.default]`.
    ///   - propertyQuery: the property query for algorithm fetches and key loading
    ///     (`?tpm2.signature` with the tpm2 provider). Default `nil`: no query.
    ///   - engines: ENGINEs for keys by identifier — only `.pkcs11()` is used, for
    ///     `pkcs11:` URIs. Default: none; TLSKit never chooses an engine by itself.
    /// - Throws: `TLSError.Code.unsupportedFeature` when the runtime libssl is older than
    ///   3.0; `TLSError.Code.configuration` when a provider or engine cannot be loaded (the
    ///   message names it and how to install or reach it).
    public init(
        providers: [OpenSSLProvider] = [.default], propertyQuery: String? = nil, engines: [OpenSSLEngine] = []
    ) throws(TLSError) {
        library = try OpenSSLLibraryContext(providers: providers, propertyQuery: propertyQuery, engines: engines)
    }

    /// The providers this backend loaded, in order.
    public var providers: [String] { library.providerNames }
    /// The property query used for fetches, if any.
    public var propertyQuery: String? { library.propertyQuery }

    /// The runtime library's version text, e.g. `OpenSSL 3.0.19 27 Jan 2026`.
    public var libraryVersion: String { String(cString: OpenSSL_version(OPENSSL_VERSION)) }

    /// What this backend can do with the providers it loaded.
    /// PKCS#11 and TPM keys depend on the providers loaded (`pkcs11`, `tpm2`).
    public var capabilities: TLSBackendCapabilities {
        let schemes = library.identifierSchemes
        var features: Set<TLSFeature> = [
            .sansIO, .alpn, .serverNameSelection, .clientCertificates, .systemTrustStore,
            .customTrustStore, .tls12CipherSuites, .tls13CipherSuites, .keyExchangeGroups,
            .ipAddressVerification, .keyIdentifiers, .encryptedKeys, .exactCipherSuiteSelection, .verificationTime,
            .certificateResolver, .certificateRotation, .ocspStapling, .customSigners,
        ]
        if schemes.contains("pkcs11") || library.engine(for: "pkcs11:") != nil { features.insert(.pkcs11Keys) }
        if schemes.contains("handle") { features.insert(.tpmKeys) }
        return TLSBackendCapabilities(
            versions: [.tls1_0, .tls1_1, .tls1_2, .tls1_3],
            features: features,
            cipherSuites: OpenSSLCipherTable.shared.supported,
            keyExchangeGroups: OpenSSLGroups.supported,
            identifierSchemes: library.engine(for: "pkcs11:") != nil && !schemes.contains("pkcs11") ? schemes + ["pkcs11"] : schemes
        )
    }

    /// Checks a client configuration against OpenSSL's abilities (suites, groups, options)
    /// without loading credentials.
    public func validate(_ configuration: TLSClientConfiguration) throws(TLSError) {
        try configuration.validateBackendNeutral()
        if let insecure = configuration.insecureVerification { try TLSInsecure.validate(insecure) }
        try validateSettings(OpenSSLContextSettings(configuration))
    }

    /// Checks a server configuration against OpenSSL's abilities without loading credentials.
    public func validate(_ configuration: TLSServerConfiguration) throws(TLSError) {
        try configuration.validateBackendNeutral()
        try validateSettings(OpenSSLContextSettings(configuration))
    }

    /// Validates, then builds an `SSL_CTX` with the trust store and client chain loaded.
    /// Expensive (parses credentials, may read files); build once and share.
    public func makeClientContext(_ configuration: TLSClientConfiguration, hooks: TLSContextHooks) throws(TLSError)
        -> any TLSClientContext
    {
        try validate(configuration)
        return try OpenSSLClientContext(library: library, configuration: configuration, hooks: hooks)
    }

    /// Validates, then builds one `SSL_CTX` per signing chain (selected by SNI).
    /// Expensive (parses credentials, may read files); build once and share.
    public func makeServerContext(_ configuration: TLSServerConfiguration, hooks: TLSContextHooks) throws(TLSError)
        -> any TLSServerContext
    {
        try validate(configuration)
        return try OpenSSLServerContext(library: library, configuration: configuration, hooks: hooks) { [self] configuration throws(TLSError) in
            try validate(configuration)
        }
    }

    private func validateSettings(_ settings: OpenSSLContextSettings) throws(TLSError) {
        if let cipherSuites = settings.cipherSuites {
            let table = OpenSSLCipherTable.shared
            for suite in cipherSuites {
                if let refusal = table.refusalError(for: suite) { throw refusal }
            }
            for suite in cipherSuites where table.name(for: suite) == nil {
                throw TLSError.unsupported(
                    backend: name, feature: "cipherSuites",
                    "\(suite) is not a cipher suite \(libraryVersion) implements; "
                        + "see OpenSSLBackend().capabilities.cipherSuites")
            }
        }
        if let groups = settings.groups {
            for group in groups where OpenSSLGroups.name(for: group) == nil {
                throw TLSError.unsupported(
                    backend: name, feature: "keyExchangeGroups",
                    "\(group) is not available in \(libraryVersion)")
            }
        }
        let unknown = settings.options.keys(forBackend: name).filter { !OpenSSLOptions.knownKeys.contains($0) }
        if let first = unknown.first {
            throw TLSError.configuration(
                field: "backendOptions", "\(first) is not an option this version of TLSKitOpenSSL knows")
        }
    }
}

/// Backend options understood by ``OpenSSLBackend`` (see `TLSBackendOptions`).
public enum OpenSSLOptions {
    /// OpenSSL's security level (0 to 5) for the context, overriding the one implied by
    /// the security policy (`SSL_CTX_set_security_level`).
    public enum SecurityLevel: TLSBackendOptionKey {
        public typealias Value = Int
        public static let backendName = "openssl"
    }

    static let knownKeys: Set<String> = [String(describing: SecurityLevel.self)]
}

/// Owns one `OSSL_LIB_CTX` and the providers loaded into it.
final class OpenSSLLibraryContext: @unchecked Sendable {
    // @unchecked: the pointers are set in init and never change; OpenSSL library contexts
    // are thread-safe once providers are loaded.
    let pointer: OpaquePointer
    let providerNames: [String]
    let propertyQuery: String?
    /// What `.systemDefault` follows (read when the library context is made); an error
    /// here fails only the `.systemDefault` contexts, when they are built.
    let systemPolicy: Result<OpenSSLSystemPolicy, TLSError>
    private var providers: [OpaquePointer] = []
    private var engines: [OpenSSLEngineHandle] = []
    /// Set once the providers are up: deinit then parks the context for reuse instead of
    /// freeing it (``RetiredLibraryContexts``).
    private var retiredKey: RetiredLibraryContexts.Key?

    init(
        providers requested: [OpenSSLProvider], propertyQuery: String?, engines: [OpenSSLEngine] = [],
        systemConfiguration: String? = nil
    ) throws(TLSError) {
        let specs = requested.map(\.withTLSKitDefaults)
        try OpenSSLLibraryContext.checkRuntimeVersion()
        guard !specs.isEmpty else {
            throw TLSError.configuration(field: "providers", "load at least one provider, normally .default")
        }
        let key = RetiredLibraryContexts.Key(specs, propertyQuery: propertyQuery)
        if let parked = RetiredLibraryContexts.take(key) {
            pointer = parked.pointer
            providerNames = specs.map(\.name)
            self.propertyQuery = propertyQuery
            providers = parked.providers
            retiredKey = key
            let ctx = parked.pointer
            systemPolicy =
                systemConfiguration.map { path in
                    Result { () throws(TLSError) in try OpenSSLSystemPolicy.read(path, required: true, libraryContext: ctx) }
                } ?? OpenSSLSystemPolicy.load(libraryContext: ctx)
            self.engines = try engines.map { (engine) throws(TLSError) in try OpenSSLEngineHandle(engine) }
            return
        }
        guard let ctx = OSSL_LIB_CTX_new() else {
            throw TLSError(.internal, "OSSL_LIB_CTX_new failed", backendErrors: OpenSSLErrorStack.drain().map(\.text))
        }
        pointer = ctx
        providerNames = specs.map(\.name)
        self.propertyQuery = propertyQuery
        systemPolicy =
            systemConfiguration.map { path in
                Result { () throws(TLSError) in try OpenSSLSystemPolicy.read(path, required: true, libraryContext: ctx) }
            } ?? OpenSSLSystemPolicy.load(libraryContext: ctx)
        // tpm2-openssl 1.1.1 takes its TCTI only from TPM2OPENSSL_TCTI, read while the
        // provider starts: set it for exactly that moment (under a lock), then restore it.
        let environment = specs.compactMap { spec in spec.name == "tpm2" ? spec.parameters["tcti"].map { ("TPM2OPENSSL_TCTI", $0) } : nil }
        let configured = specs.filter { spec in spec.parameters.keys.contains { !(spec.name == "tpm2" && $0 == "tcti") } }
        do throws(TLSError) {
            // pkcs11-provider initialises its token module as it loads (load-behavior early):
            // under the token lock, like every token load (OpenSSLCredentialLoader.forEachItem).
            try TLSTokenSerialisation.run(if: specs.contains { $0.name == "pkcs11" }) { () throws(TLSError) in
                try ProviderEnvironment.with(environment) { () throws(TLSError) in
                    if !configured.isEmpty {
                        // Other settings need a configuration section: load them all that way, in order.
                        try OpenSSLProviderConfig.load(specs, into: ctx)
                    } else {
                        for spec in specs {
                            ERR_clear_error()
                            guard let provider = OSSL_PROVIDER_load(ctx, spec.name) else {
                                throw Self.providerError(spec.name, OpenSSLErrorStack.drain().map(\.text))
                            }
                            providers.append(provider)
                        }
                    }
                }
            }
            for spec in specs where OSSL_PROVIDER_available(ctx, spec.name) != 1 {
                throw Self.providerError(spec.name, OpenSSLErrorStack.drain().map(\.text))
            }
        } catch {
            // Every stored property is set, so deinit unloads the providers and frees ctx.
            throw error
        }
        retiredKey = key
        self.engines = try engines.map { (engine) throws(TLSError) in try OpenSSLEngineHandle(engine) }
    }

    deinit {
        engines.removeAll()
        if let retiredKey {
            RetiredLibraryContexts.park(retiredKey, pointer, providers)
            return
        }
        // Providers that failed to start: no other thread has used this context.
        for provider in providers.reversed() { OSSL_PROVIDER_unload(provider) }
        OSSL_LIB_CTX_free(pointer)
    }

    /// The engine that loads keys with this identifier (`pkcs11:` → the pkcs11 engine).
    func engine(for identifier: String) -> OpenSSLEngineHandle? {
        engines.first { identifier.hasPrefix($0.id + ":") }
    }

    /// Whether a provider of this name is loaded and available.
    func hasProvider(_ name: String) -> Bool { OSSL_PROVIDER_available(pointer, name) == 1 }

    static func providerError(_ name: String, _ stack: [String]) -> TLSError {
        TLSError(
            .configuration,
            "could not load the OpenSSL provider '\(name)'. " + installHint(for: name)
                + " OpenSSL looks for provider modules in OPENSSL_MODULES or its built-in modules directory.",
            backendErrors: stack, feature: "providers")
    }

    /// URI schemes an OSSL_STORE loader in this library context accepts.
    var identifierSchemes: [String] {
        ["file", "handle", "pkcs11", "object", "org.openssl.winstore"].filter { scheme in
            ERR_set_mark()
            defer { ERR_pop_to_mark() }
            guard let loader = OSSL_STORE_LOADER_fetch(pointer, scheme, propertyQuery) else { return false }
            OSSL_STORE_LOADER_free(loader)
            return true
        }
    }

    static func installHint(for provider: String) -> String {
        switch provider {
        case "tpm2":
            return "Install the tpm2 provider (Debian: apt-get install tpm2-openssl) and check that the TPM is "
                + "reachable: the TCTI (OpenSSLProvider.tpm2(tcti:), or TPM2OPENSSL_TCTI) must name a running TPM, "
                + "e.g. swtpm:host=127.0.0.1,port=2321 or device:/dev/tpmrm0."
        case "pkcs11":
            return "Install the pkcs11 provider (Debian 12: pkcs11-provider from bookworm-backports), or use the "
                + "ENGINE bridge: OpenSSLBackend(engines: [.pkcs11()]) with libengine-pkcs11-openssl."
        case "legacy", "default", "base", "fips", "null":
            return "It is one of OpenSSL's own providers; check the OpenSSL installation."
        default: return "Check that the provider module is installed."
        }
    }

    /// Initialises libssl once, without its atexit clean-up: OpenSSL frees its global locks
    /// when the process exits, and a thread still inside OpenSSL at that moment (an event
    /// loop serving a connection while `main` returns or a SIGTERM handler calls `exit`)
    /// then crashes on a freed lock. The OS reclaims the memory anyway. If something else
    /// in the process initialised OpenSSL first, its choice stands.
    static let initialized: Bool = OPENSSL_init_ssl(UInt64(OPENSSL_INIT_NO_ATEXIT), nil) == 1

    static func checkRuntimeVersion() throws(TLSError) {
        let runtime = OpenSSL_version_num()
        guard runtime >= 0x3000_0000 else {
            throw TLSError.unsupported(
                backend: "openssl", feature: "libssl",
                "TLSKitOpenSSL needs OpenSSL 3.0 or newer at run time, but the process loaded "
                    + "\(String(cString: OpenSSL_version(OPENSSL_VERSION))); install libssl3")
        }
        guard initialized else {
            throw TLSError(.internal, "OPENSSL_init_ssl failed", backendErrors: OpenSSLErrorStack.drain().map(\.text))
        }
    }
}

/// Library contexts whose backends are gone, kept for the next backend with the same
/// providers instead of freed. OpenSSL 3.0 registers a thread-exit handler on every thread
/// that draws random numbers from a library context and runs it on that context when the
/// thread exits, even after `OSSL_LIB_CTX_free` (which cleans up only the calling thread;
/// openssl/openssl#16778): an event loop or dispatch thread that ran a handshake would then
/// crash when it retires. So a context is never freed once it served; a new backend of the
/// same configuration takes a parked one (it is exclusively its own while it lives), which
/// bounds the memory kept by the most backends of one configuration alive at once.
enum RetiredLibraryContexts {
    struct Key: Hashable {
        let providers: [OpenSSLProvider]
        let propertyQuery: String?
        /// tpm2-openssl reads its TCTI from the environment when the spec gives none.
        let environmentTCTI: [UInt8]?

        init(_ providers: [OpenSSLProvider], propertyQuery: String?) {
            self.providers = providers
            self.propertyQuery = propertyQuery
            environmentTCTI =
                providers.contains { $0.name == "tpm2" && $0.parameters["tcti"] == nil }
                ? TLSEnvironment.secret("TPM2OPENSSL_TCTI")?.withUnsafeBytes { Array($0) } : nil
        }
    }

    private static let lock = TLSMutex()
    nonisolated(unsafe) private static var parked: [Key: [(pointer: OpaquePointer, providers: [OpaquePointer])]] = [:]

    static func take(_ key: Key) -> (pointer: OpaquePointer, providers: [OpaquePointer])? {
        lock.withLock { parked[key]?.popLast() }
    }

    static func park(_ key: Key, _ pointer: OpaquePointer, _ providers: [OpaquePointer]) {
        lock.withLock { parked[key, default: []].append((pointer, providers)) }
    }
}

/// Sets environment variables around provider start-up, serialised process-wide with every
/// environment read TLSKit makes (``TLSEnvironment``).
enum ProviderEnvironment {
    static func with(_ variables: [(String, String)], _ body: () throws(TLSError) -> Void) throws(TLSError) {
        try TLSEnvironment.with(variables, body)
    }
}
