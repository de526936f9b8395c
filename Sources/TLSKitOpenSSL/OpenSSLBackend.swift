internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
public import TLSKit

/// The OpenSSL 3 backend: TLSKit over the system's libssl (3.0 or newer).
///
/// Each `OpenSSLBackend` value has its own OpenSSL library context (`OSSL_LIB_CTX`) with
/// exactly the providers it was asked to load, in that order, and a property query used
/// for every algorithm fetch of its contexts. Copies share one library context, which is
/// freed when the last copy (and every context built from it) is gone.
///
/// ```swift
/// let backend = try OpenSSLBackend()                       // the "default" provider
/// let tpm = try OpenSSLBackend(providers: ["default", "tpm2"], propertyQuery: "?tpm2.signature")
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
    ///   - providers: OpenSSL providers to load, in order. Default `["default"]`.
    ///   - propertyQuery: the property query for algorithm fetches (e.g. `?tpm2.signature`).
    ///     Default `nil`: no query.
    /// - Throws: ``TLSError/Code/unsupportedFeature`` when the runtime libssl is older than
    ///   3.0; ``TLSError/Code/configuration`` when a provider cannot be loaded (the message
    ///   names it and how to install it).
    public init(providers: [String] = ["default"], propertyQuery: String? = nil) throws(TLSError) {
        library = try OpenSSLLibraryContext(providers: providers, propertyQuery: propertyQuery)
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
            .ipAddressVerification, .keyIdentifiers, .encryptedKeys, .exactCipherSuiteSelection,
        ]
        if schemes.contains("pkcs11") { features.insert(.pkcs11Keys) }
        if schemes.contains("handle") { features.insert(.tpmKeys) }
        return TLSBackendCapabilities(
            versions: [.tls1_0, .tls1_1, .tls1_2, .tls1_3],
            features: features,
            cipherSuites: OpenSSLCipherTable.shared.supported,
            keyExchangeGroups: OpenSSLGroups.supported,
            identifierSchemes: schemes
        )
    }

    /// Checks a client configuration against OpenSSL's abilities (suites, groups, options)
    /// without loading credentials.
    public func validate(_ configuration: TLSClientConfiguration) throws(TLSError) {
        try configuration.validateBackendNeutral()
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
        return try OpenSSLServerContext(library: library, configuration: configuration, hooks: hooks)
    }

    private func validateSettings(_ settings: OpenSSLContextSettings) throws(TLSError) {
        if let cipherSuites = settings.cipherSuites {
            let table = OpenSSLCipherTable.shared
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

/// Backend options understood by ``OpenSSLBackend`` (see ``TLSBackendOptions``).
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
    private var providers: [OpaquePointer] = []

    init(providers names: [String], propertyQuery: String?) throws(TLSError) {
        try OpenSSLLibraryContext.checkRuntimeVersion()
        guard !names.isEmpty else {
            throw TLSError.configuration(field: "providers", "load at least one provider, normally \"default\"")
        }
        guard let ctx = OSSL_LIB_CTX_new() else {
            throw TLSError(.internal, "OSSL_LIB_CTX_new failed", backendErrors: OpenSSLErrorStack.drain().map(\.text))
        }
        pointer = ctx
        providerNames = names
        self.propertyQuery = propertyQuery
        for name in names {
            ERR_clear_error()
            guard let provider = OSSL_PROVIDER_load(ctx, name) else {
                let stack = OpenSSLErrorStack.drain().map(\.text)
                throw TLSError(
                    .configuration,
                    "could not load the OpenSSL provider '\(name)'. "
                        + OpenSSLLibraryContext.installHint(for: name)
                        + " OpenSSL looks for provider modules in OPENSSL_MODULES or its built-in "
                        + "modules directory.",
                    backendErrors: stack, feature: "providers")
            }
            self.providers.append(provider)
        }
    }

    deinit {
        for provider in providers.reversed() { OSSL_PROVIDER_unload(provider) }
        OSSL_LIB_CTX_free(pointer)
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
        case "tpm2": return "Install the tpm2 provider (Debian: apt-get install tpm2-openssl)."
        case "pkcs11": return "Install the pkcs11 provider (Debian: apt-get install pkcs11-provider)."
        case "legacy", "default", "base", "fips", "null":
            return "It is one of OpenSSL's own providers; check the OpenSSL installation."
        default: return "Check that the provider module is installed."
        }
    }

    static func checkRuntimeVersion() throws(TLSError) {
        let runtime = OpenSSL_version_num()
        guard runtime >= 0x3000_0000 else {
            throw TLSError.unsupported(
                backend: "openssl", feature: "libssl",
                "TLSKitOpenSSL needs OpenSSL 3.0 or newer at run time, but the process loaded "
                    + "\(String(cString: OpenSSL_version(OPENSSL_VERSION))); install libssl3")
        }
    }
}

/// The IANA code ↔ OpenSSL name table, built once from the library itself.
final class OpenSSLCipherTable: Sendable {
    static let shared = OpenSSLCipherTable()

    let names: [UInt16: String]
    let supported: [TLSCipherSuite]

    private init() {
        var names: [UInt16: String] = [
            0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
            0x1303: "TLS_CHACHA20_POLY1305_SHA256", 0x1304: "TLS_AES_128_CCM_SHA256",
            0x1305: "TLS_AES_128_CCM_8_SHA256",
        ]
        if let ctx = SSL_CTX_new(TLS_method()) {
            if SSL_CTX_set_cipher_list(ctx, "ALL:COMPLEMENTOFALL:@SECLEVEL=0") == 1,
                let stack = SSL_CTX_get_ciphers(ctx)
            {
                for i in 0..<OPENSSL_sk_num(stack) {
                    guard let raw = OPENSSL_sk_value(stack, i) else { continue }
                    let cipher = OpaquePointer(raw)
                    let code = SSL_CIPHER_get_protocol_id(cipher)
                    if code >> 8 == 0x13 { continue }
                    if let name = SSL_CIPHER_get_name(cipher) { names[code] = String(cString: name) }
                }
            }
            SSL_CTX_free(ctx)
        }
        ERR_clear_error()
        self.names = names
        self.supported = names.keys.sorted().map { TLSCipherSuite(rawValue: $0) }
    }

    func name(for suite: TLSCipherSuite) -> String? { names[suite.rawValue] }
}

/// IANA group ↔ OpenSSL group name and NID.
enum OpenSSLGroups {
    static let table: [(group: TLSNamedGroup, name: String, nid: Int32)] = [
        (.x25519, "X25519", NID_X25519),
        (.secp256r1, "P-256", NID_X9_62_prime256v1),
        (.x448, "X448", NID_X448),
        (.secp521r1, "P-521", NID_secp521r1),
        (.secp384r1, "P-384", NID_secp384r1),
        (.ffdhe2048, "ffdhe2048", NID_ffdhe2048),
        (.ffdhe3072, "ffdhe3072", NID_ffdhe3072),
        (.ffdhe4096, "ffdhe4096", NID_ffdhe4096),
    ]
    static var supported: [TLSNamedGroup] { table.map(\.group) }
    static func name(for group: TLSNamedGroup) -> String? { table.first { $0.group == group }?.name }
    static func group(forNID nid: Int32) -> TLSNamedGroup? { table.first { $0.nid == nid }?.group }
}
