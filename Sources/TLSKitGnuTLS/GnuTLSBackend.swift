internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
public import TLSKit
import TLSKitInsecure

/// The GnuTLS backend: TLSKit over the system's libgnutls (3.6 or newer).
///
/// GnuTLS chooses algorithms through *priority strings*; this backend builds one from each
/// configuration (versions, cipher suites, groups, policy) when the context is built, and
/// refuses, with `TLSError.Code.unsupportedFeature`, what a priority string cannot say
/// exactly — see ``validate(_:)-(TLSClientConfiguration)``.
///
/// ```swift
/// let backend = try GnuTLSBackend()
/// let context = try backend.makeClientContext(TLSClientConfiguration())
/// ```
///
/// Thread-safety: `Sendable`; contexts built from it may be used from any thread.
public struct GnuTLSBackend: TLSBackend {
    /// `"gnutls"`.
    public let name = "gnutls"

    /// Creates the backend.
    ///
    /// - Throws: `TLSError.Code.unsupportedFeature` when the runtime libgnutls is older
    ///   than 3.6.
    public init() throws(TLSError) {
        guard gnutls_check_version("3.6.0") != nil else {
            throw TLSError.unsupported(
                backend: "gnutls", feature: "libgnutls",
                "TLSKitGnuTLS needs GnuTLS 3.6 or newer at run time, but the process loaded "
                    + "\(String(cString: gnutls_check_version(nil))); install libgnutls30")
        }
    }

    /// `GnuTLS 3.7.9`, from the library loaded at run time.
    public var libraryVersion: String { "GnuTLS " + String(cString: gnutls_check_version(nil)) }

    /// What this backend can do.
    public var capabilities: TLSBackendCapabilities {
        TLSBackendCapabilities(
            versions: [.tls1_0, .tls1_1, .tls1_2, .tls1_3],
            features: [
                .sansIO, .alpn, .serverNameSelection, .clientCertificates, .systemTrustStore,
                .customTrustStore, .tls12CipherSuites, .tls13CipherSuites, .keyExchangeGroups,
                .ipAddressVerification, .keyIdentifiers, .encryptedKeys, .pkcs11Keys,
                .certificateResolver, .certificateRotation, .ocspStapling, .customSigners,
            ],
            cipherSuites: GnuTLSSuites.shared.all.map(\.suite),  // anonymous, NULL, PSK and SRP suites left out
            keyExchangeGroups: GnuTLSGroups.table.map(\.group),
            identifierSchemes: ["file", "pkcs11"]
        )
    }

    /// Checks a client configuration: everything must be expressible as a GnuTLS priority
    /// string (cipher suite lists must be closed under GnuTLS's component selection).
    public func validate(_ configuration: TLSClientConfiguration) throws(TLSError) {
        try configuration.validateBackendNeutral()
        if let insecure = configuration.insecureVerification { try TLSInsecure.validate(insecure) }
        try Self.refuseVerificationTime(configuration.verificationTime)
        _ = try GnuTLSPriority.build(GnuTLSSettings(configuration))
        try Self.checkOptions(configuration.backendOptions)
    }

    /// Checks a server configuration (see the client variant).
    public func validate(_ configuration: TLSServerConfiguration) throws(TLSError) {
        try configuration.validateBackendNeutral()
        try Self.refuseVerificationTime(configuration.verificationTime)
        _ = try GnuTLSPriority.build(GnuTLSSettings(configuration))
        try Self.checkOptions(configuration.backendOptions)
    }

    /// Validates, then builds GnuTLS credentials (trust store, client chain) and a priority
    /// cache. Expensive; build once and share.
    public func makeClientContext(_ configuration: TLSClientConfiguration, hooks: TLSContextHooks) throws(TLSError)
        -> any TLSClientContext
    {
        try validate(configuration)
        return try GnuTLSClientContext(configuration: configuration, hooks: hooks)
    }

    /// Validates, then builds credentials holding every signing chain (GnuTLS picks one per
    /// connection by SNI) and a priority cache. Expensive; build once and share.
    public func makeServerContext(_ configuration: TLSServerConfiguration, hooks: TLSContextHooks) throws(TLSError)
        -> any TLSServerContext
    {
        try validate(configuration)
        return try GnuTLSServerContext(configuration: configuration, hooks: hooks) { [self] configuration throws(TLSError) in
            try validate(configuration)
        }
    }

    /// GnuTLS can only change the verification time process-wide
    /// (`gnutls_global_set_time_function`), which would move every other context's clock too.
    private static func refuseVerificationTime(_ time: TLSVerificationTime?) throws(TLSError) {
        guard time != nil else { return }
        throw TLSError.unsupported(
            backend: "gnutls", feature: "verificationTime",
            "GnuTLS can only set the verification time for the whole process; use the OpenSSL backend")
    }

    private static func checkOptions(_ options: TLSBackendOptions) throws(TLSError) {
        if let first = options.keys(forBackend: "gnutls").first {
            throw TLSError.configuration(field: "backendOptions", "\(first) is not an option TLSKitGnuTLS knows")
        }
    }
}

/// The settings a GnuTLS context is built from.
struct GnuTLSSettings {
    var side: TLSSide
    var versions: ClosedRange<TLSProtocolVersion>
    var cipherSuites: [TLSCipherSuite]?
    var groups: [TLSNamedGroup]?
    var policy: TLSSecurityPolicy

    init(_ c: some TLSNegotiationSettings) throws(TLSError) {
        side = c.side
        versions = try c.effectiveVersionRange()
        cipherSuites = c.cipherSuites
        groups = c.keyExchangeGroups
        policy = c.securityPolicy
    }
}

/// GnuTLS's cipher-suite table, read from the library: IANA code ↔ the components a
/// priority string selects (key exchange, cipher, MAC).
///
/// Anonymous, NULL-encryption, PSK and SRP suites are kept apart in ``refused``: never in
/// ``all`` (so never in the capabilities or a priority string), and refused by name.
final class GnuTLSSuites: Sendable {
    struct Entry: Sendable {
        let suite: TLSCipherSuite
        let kx: String?
        let cipher: String
        let mac: String
        let kxID: UInt32
        let cipherID: UInt32
        let macID: UInt32
    }

    static let shared = GnuTLSSuites()
    /// The suites TLSKit may offer.
    let all: [Entry]
    /// The suites GnuTLS implements that TLSKit never offers or accepts: GnuTLS's name and why.
    let refused: [TLSCipherSuite: (name: String, refusal: TLSCipherSuiteRefusal)]

    /// Key exchanges of the suites in ``refused``, with why.
    static let refusedKeyExchanges: [String: TLSCipherSuiteRefusal] = [
        "ANON-DH": .anonymous, "ANON-ECDH": .anonymous,
        "PSK": .preSharedKey, "DHE-PSK": .preSharedKey, "ECDHE-PSK": .preSharedKey, "RSA-PSK": .preSharedKey,
        "SRP": .secureRemotePassword, "SRP-RSA": .secureRemotePassword, "SRP-DSS": .secureRemotePassword,
    ]

    /// Appended to every priority string, after any `+` a configuration produced: removes
    /// those key exchanges and the NULL cipher whatever came before.
    static let priorityExclusions = ["-ANON-DH", "-ANON-ECDH", "-PSK", "-DHE-PSK", "-ECDHE-PSK", "-RSA-PSK", "-SRP", "-SRP-RSA", "-SRP-DSS", "-NULL"]

    private init() {
        var entries: [Entry] = []
        var refused: [TLSCipherSuite: (name: String, refusal: TLSCipherSuiteRefusal)] = [:]
        var id: [UInt8] = [0, 0]
        var kx = gnutls_kx_algorithm_t(rawValue: 0)
        var cipher = gnutls_cipher_algorithm_t(rawValue: 0)
        var mac = gnutls_mac_algorithm_t(rawValue: 0)
        var version = gnutls_protocol_t(rawValue: 0)
        var index = 0
        while let name = gnutls_cipher_suite_info(index, &id, &kx, &cipher, &mac, &version) {
            let code = UInt16(id[0]) << 8 | UInt16(id[1])
            index += 1
            let kxName = gnutls_kx_get_name(kx).map { String(cString: $0) }
            let cipherName = String(cString: gnutls_cipher_get_name(cipher))
            if let refusal = kxName.flatMap({ Self.refusedKeyExchanges[$0] }) ?? (cipherName == "NULL" ? .nullEncryption : nil) {
                refused[TLSCipherSuite(rawValue: code)] = (String(cString: name), refusal)
                continue
            }
            entries.append(
                Entry(
                    suite: TLSCipherSuite(rawValue: code),
                    kx: kxName,
                    cipher: cipherName,
                    mac: String(cString: gnutls_mac_get_name(mac)),
                    kxID: kx.rawValue, cipherID: cipher.rawValue, macID: mac.rawValue))
        }
        all = entries
        self.refused = refused
    }

    func entry(_ suite: TLSCipherSuite) -> Entry? { all.first { $0.suite == suite } }
}

/// IANA groups ↔ GnuTLS priority keywords and names.
enum GnuTLSGroups {
    static let table: [(group: TLSNamedGroup, keyword: String, name: String)] = [
        (.x25519, "GROUP-X25519", "X25519"),
        (.secp256r1, "GROUP-SECP256R1", "SECP256R1"),
        (.secp384r1, "GROUP-SECP384R1", "SECP384R1"),
        (.secp521r1, "GROUP-SECP521R1", "SECP521R1"),
        (.x448, "GROUP-X448", "X448"),
        (.ffdhe2048, "GROUP-FFDHE2048", "FFDHE2048"),
        (.ffdhe3072, "GROUP-FFDHE3072", "FFDHE3072"),
        (.ffdhe4096, "GROUP-FFDHE4096", "FFDHE4096"),
    ]
    static func group(named name: String) -> TLSNamedGroup? { table.first { $0.name == name }?.group }

    /// The groups of GnuTLS 3.7's SECURE128 and NORMAL lists, X25519 moved first.
    static let defaultOrder = [
        "GROUP-X25519", "GROUP-SECP256R1", "GROUP-SECP384R1", "GROUP-SECP521R1", "GROUP-X448",
        "GROUP-FFDHE2048", "GROUP-FFDHE3072", "GROUP-FFDHE4096", "GROUP-FFDHE6144", "GROUP-FFDHE8192",
    ]
}

/// Builds and checks GnuTLS priority strings.
enum GnuTLSPriority {
    /// The priority string for `settings`, checked with `gnutls_priority_init`.
    static func build(_ s: GnuTLSSettings) throws(TLSError) -> String {
        var parts: [String]
        // The versions to enable: the configuration's range, and for `.systemDefault` only
        // those the system's @SYSTEM priority enables too (the "-VERS-ALL:+…" below would
        // otherwise bring back a version the system turned off).
        var allowed: (TLSProtocolVersion) -> Bool = { s.versions.contains($0) }
        // Whether TLSKit picks the base list (not a system priority file an administrator wrote).
        var ownsBase = true
        if s.policy.isModern {
            parts = ["SECURE128"]
        } else if s.policy.isCompatible {
            parts = ["NORMAL", "%COMPAT"]
        } else {
            let system = try GnuTLSSystemPriority.resolve()
            parts = [system.keyword]
            ownsBase = system.keyword != "@SYSTEM"
            if let enabled = system.versions {
                allowed = { s.versions.contains($0) && enabled.contains($0) }
                guard [TLSProtocolVersion.tls1_3, .tls1_2, .tls1_1, .tls1_0].contains(where: allowed) else {
                    throw TLSError(
                        .configuration,
                        "securityPolicy .systemDefault: the system's GnuTLS priority (@SYSTEM in \(system.path)) enables "
                            + "no version in \(s.versions); widen minimumVersion/maximumVersion, or use the .modern or "
                            + ".compatible policy, which do not follow the system",
                        feature: "securityPolicy")
                }
            }
        }
        parts.append("-VERS-ALL")
        let names: [TLSProtocolVersion: String] = [.tls1_0: "VERS-TLS1.0", .tls1_1: "VERS-TLS1.1", .tls1_2: "VERS-TLS1.2", .tls1_3: "VERS-TLS1.3"]
        for version in [TLSProtocolVersion.tls1_3, .tls1_2, .tls1_1, .tls1_0] where allowed(version) {
            parts.append("+" + names[version]!)
        }
        if let suites = s.cipherSuites {
            parts += try suiteParts(suites, versions: s.versions)
        }
        if s.groups == nil, ownsBase {
            // GnuTLS's SECURE128 and NORMAL lists start with SECP256R1, and a server with
            // %SERVER_PRECEDENCE then answers the usual client (OpenSSL, BoringSSL, NSS and
            // curl send an X25519 key share) with a HelloRetryRequest: one more round trip and
            // a second ClientHello on every connection. The same groups, X25519 first (as
            // OpenSSL orders them), make the client's share the server's choice. A system
            // priority file keeps its own order.
            parts.append("-GROUP-ALL")
            parts += GnuTLSGroups.defaultOrder.map { "+" + $0 }
        }
        if let groups = s.groups {
            parts.append("-GROUP-ALL")
            for group in groups {
                guard let keyword = GnuTLSGroups.table.first(where: { $0.group == group })?.keyword else {
                    throw TLSError.unsupported(
                        backend: "gnutls", feature: "keyExchangeGroups", "\(group) is not available in GnuTLS")
                }
                parts.append("+" + keyword)
            }
        }
        parts += GnuTLSSuites.priorityExclusions
        if s.side == .server { parts.append("%SERVER_PRECEDENCE") }
        let priority = parts.joined(separator: ":")
        // Check it now, so a bad setting fails when the context is built.
        var cache: gnutls_priority_t?
        var errorPosition: UnsafePointer<CChar>?
        let status = gnutls_priority_init(&cache, priority, &errorPosition)
        if let cache { gnutls_priority_deinit(cache) }
        guard status == GNUTLS_E_SUCCESS else {
            let at = errorPosition.map { String(cString: $0) } ?? "?"
            throw TLSError.unsupported(
                backend: "gnutls", feature: "priority",
                "GnuTLS refused the priority string '\(priority)' at '\(at)': \(String(cString: gnutls_strerror(status)))")
        }
        return priority
    }

    /// GnuTLS enables suites by component (key exchange × cipher × MAC). The list must be
    /// exactly what those components produce for the negotiable versions, or it is refused.
    private static func suiteParts(_ suites: [TLSCipherSuite], versions: ClosedRange<TLSProtocolVersion>) throws(TLSError)
        -> [String]
    {
        let table = GnuTLSSuites.shared
        var kxs: [String] = []
        var ciphers: [String] = []
        var macs: [String] = []
        for suite in suites {
            if let refused = table.refused[suite] {
                throw refused.refusal.error(for: suite, backendName: refused.name)
            }
            guard let entry = table.entry(suite) else {
                throw TLSError.unsupported(
                    backend: "gnutls", feature: "cipherSuites",
                    "\(suite) is not a cipher suite GnuTLS implements; see GnuTLSBackend().capabilities.cipherSuites")
            }
            if let kx = entry.kx, !kxs.contains(kx) { kxs.append(kx) }
            if !ciphers.contains(entry.cipher) { ciphers.append(entry.cipher) }
            if !macs.contains(entry.mac) { macs.append(entry.mac) }
        }
        let parts = ["-CIPHER-ALL", "-MAC-ALL", "-KX-ALL"] + ciphers.map { "+" + $0 } + macs.map { "+" + $0 } + kxs.map { "+" + $0 }
        // What would those components enable?
        let wanted = Set(suites)
        let enabled = Set(
            table.all.filter { entry in
                let tls13 = entry.suite.isTLS13
                guard tls13 ? versions.contains(.tls1_3) : versions.lowerBound <= .tls1_2 else { return false }
                return ciphers.contains(entry.cipher) && macs.contains(entry.mac) && (tls13 || kxs.contains(entry.kx ?? ""))
            }.map(\.suite))
        let extra = enabled.subtracting(wanted)
        if !extra.isEmpty {
            throw TLSError.unsupported(
                backend: "gnutls", feature: "cipherSuites",
                "GnuTLS enables suites by key exchange, cipher and MAC, so this list would also enable "
                    + extra.map(\.description).sorted().joined(separator: ", ")
                    + "; add them to cipherSuites or narrow the version range")
        }
        return parts
    }
}
