internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit

#if canImport(Glibc)
import Glibc
#endif

/// An OpenSSL provider for ``OpenSSLBackend`` to load, with its settings.
///
/// Settings are what the provider would read from its section of an `openssl.cnf`; they
/// are given here in code and handed to OpenSSL through an in-memory configuration (a
/// `memfd`), never a file on disk. One exception: tpm2-openssl 1.1.1 reads its TCTI only
/// from `TPM2OPENSSL_TCTI`, so `.tpm2(tcti:)` sets that variable while the provider starts
/// (serialised, then restored).
public struct OpenSSLProvider: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The provider's name (`default`, `tpm2`, `pkcs11`, `legacy` …).
    public var name: String
    /// Settings for the provider's configuration section. Default: none.
    public var parameters: [String: String]

    /// A provider by name, with optional settings.
    public init(_ name: String, parameters: [String: String] = [:]) {
        self.name = name
        self.parameters = parameters
    }

    /// A provider by name.
    public init(stringLiteral value: String) { self.init(value) }

    /// OpenSSL's default provider. Load it first.
    public static let `default` = OpenSSLProvider("default")

    /// tpm2-openssl: keys in a TPM 2.0 by `handle:0x81000001` or TSS2 key files.
    ///
    /// - Parameter tcti: how to reach the TPM, e.g. `swtpm:host=127.0.0.1,port=2321` or
    ///   `device:/dev/tpmrm0`. Default `nil`: the provider's own default
    ///   (`TPM2OPENSSL_TCTI`, then the system's TPM).
    ///
    /// > Important: on OpenSSL 3.0 with tpm2-openssl 1.1.1, load `.default` first, then
    /// > `.tpm2(…)`, and use the property query `?tpm2.signature`; the opposite order breaks
    /// > TLS (TLS 1.2 EC groups disappear, TPM object slots run out).
    public static func tpm2(tcti: String? = nil) -> OpenSSLProvider {
        OpenSSLProvider("tpm2", parameters: tcti.map { ["tcti": $0] } ?? [:])
    }

    /// pkcs11-provider: keys and certificates on a PKCS#11 token or HSM by `pkcs11:` URI,
    /// through OpenSSL 3's store (no ENGINE). Debian 12: `apt-get install -t
    /// bookworm-backports pkcs11-provider`; newer releases have it in main.
    ///
    /// The key never leaves the token: the provider signs with it there. The PIN comes from
    /// the URI (`pin-value=`) or from the key's `TLSPassphrase`.
    ///
    /// - Parameter module: the PKCS#11 module (`pkcs11-module-path`), e.g.
    ///   `/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so`. Default `nil`: the provider's
    ///   own default, `PKCS11_PROVIDER_MODULE` or else p11-kit-proxy, which reaches every
    ///   module p11-kit knows. With a module, it is loaded when the backend is made
    ///   (`pkcs11-module-load-behavior = early`), so a wrong path fails there, not at the
    ///   first key, and it is never finalised when the backend goes
    ///   (`pkcs11-module-quirks = no-deinit`): a PKCS#11 module is initialised once per
    ///   process, so `C_Finalize` from one backend would pull the token from under every
    ///   other backend, ENGINE or GnuTLS context using the same module (p11-kit-proxy
    ///   counts its users itself).
    ///
    /// The backend loads pkcs11-provider (by this function or by name) without its session
    /// key cache (`pkcs11-module-cache-keys = false`, unless the settings name it): its
    /// copies of a key are visible to every session of the process, so another backend's
    /// search found a copy that was then destroyed, and its load failed with "no private key
    /// found". The token is asked for the key on each signature instead.
    ///
    /// Load `.default` first: `OpenSSLBackend(providers: [.default, .pkcs11(module: …)])`.
    /// Where the provider is not installed, the ENGINE bridge (`OpenSSLEngine.pkcs11(modulePath:)`)
    /// does the same through libp11.
    public static func pkcs11(module: String? = nil) -> OpenSSLProvider {
        OpenSSLProvider(
            "pkcs11",
            parameters: module.map {
                ["pkcs11-module-path": $0, "pkcs11-module-load-behavior": "early", "pkcs11-module-quirks": "no-deinit"]
            } ?? [:])
    }

    /// The provider as the backend loads it: pkcs11-provider, however it was named, gets
    /// `pkcs11-module-cache-keys = false` unless the settings say otherwise.
    var withTLSKitDefaults: OpenSSLProvider {
        guard name == "pkcs11", parameters["pkcs11-module-cache-keys"] == nil else { return self }
        var provider = self
        provider.parameters["pkcs11-module-cache-keys"] = "false"
        return provider
    }

    public var description: String {
        parameters.isEmpty ? name : "\(name)(\(parameters.keys.sorted().map { "\($0)=\(parameters[$0]!)" }.joined(separator: ", ")))"
    }
}

/// An OpenSSL ENGINE to use for keys by identifier: the opt-in bridge for PKCS#11 tokens on
/// OpenSSL 3.0, where the pkcs11 provider is not in Debian 12's main archive.
///
/// ENGINEs are deprecated in OpenSSL 3; TLSKit never picks one on its own. With
/// `.pkcs11()` configured, `pkcs11:` key identifiers are loaded through libp11
/// (`libengine-pkcs11-openssl`); the key never leaves the token.
public struct OpenSSLEngine: Hashable, Sendable, CustomStringConvertible {
    /// The engine id (`pkcs11`).
    public var id: String
    /// Control commands sent before `ENGINE_init`, in order (e.g. `MODULE_PATH`).
    public var commands: [String: String]

    /// An engine by id with control commands.
    public init(id: String, commands: [String: String] = [:]) {
        self.id = id
        self.commands = commands
    }

    /// libp11's pkcs11 engine.
    ///
    /// - Parameter modulePath: the PKCS#11 module, e.g.
    ///   `/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so`. Default `nil`: p11-kit-proxy,
    ///   which reaches every module p11-kit knows.
    public static func pkcs11(modulePath: String? = nil) -> OpenSSLEngine {
        OpenSSLEngine(id: "pkcs11", commands: modulePath.map { ["MODULE_PATH": $0] } ?? [:])
    }

    public var description: String { "engine:\(id)" }
}

/// Owns one initialised `ENGINE*`.
final class OpenSSLEngineHandle: @unchecked Sendable {
    // @unchecked: initialised once; libp11 serialises access to the token itself.
    let id: String
    let pointer: OpaquePointer

    init(_ engine: OpenSSLEngine) throws(TLSError) {
        ERR_clear_error()
        guard let e = CTLSKitOpenSSLShims_ENGINE_by_id(engine.id) else {
            throw TLSError(
                .configuration,
                "could not load the OpenSSL engine '\(engine.id)'"
                    + (engine.id == "pkcs11" ? "; install it (Debian: apt-get install libengine-pkcs11-openssl)" : ""),
                backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: "engines")
        }
        for (command, argument) in engine.commands.sorted(by: { $0.key < $1.key }) {
            guard CTLSKitOpenSSLShims_ENGINE_ctrl_cmd_string(e, command, argument, 0) == 1 else {
                _ = CTLSKitOpenSSLShims_ENGINE_free(e)
                throw TLSError(
                    .configuration, "the engine '\(engine.id)' refused \(command)=\(argument)",
                    backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: "engines")
            }
        }
        guard CTLSKitOpenSSLShims_ENGINE_init(e) == 1 else {
            _ = CTLSKitOpenSSLShims_ENGINE_free(e)
            throw TLSError(
                .configuration,
                "the engine '\(engine.id)' failed to initialise (is the PKCS#11 module path right?)",
                backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: "engines")
        }
        id = engine.id
        pointer = e
    }

    deinit {
        _ = CTLSKitOpenSSLShims_ENGINE_finish(pointer)
        _ = CTLSKitOpenSSLShims_ENGINE_free(pointer)
    }
}

/// Builds the in-memory configuration that loads providers with settings.
enum OpenSSLProviderConfig {
    static func text(_ providers: [OpenSSLProvider]) -> String {
        var lines = ["openssl_conf = openssl_init", "[openssl_init]", "providers = provider_sect", "[provider_sect]"]
        for (i, p) in providers.enumerated() { lines.append("\(p.name) = tlskit_provider_\(i)") }
        for (i, p) in providers.enumerated() {
            lines.append("[tlskit_provider_\(i)]")
            lines.append("activate = 1")
            for key in p.parameters.keys.sorted() { lines.append("\(key) = \(p.parameters[key]!)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A memfd holding `text`, close-on-exec: a process another thread spawns while the
    /// providers load must not inherit it.
    static func descriptor(holding text: String) throws(TLSError) -> Int32 {
        let fd = CTLSKitOpenSSLShims_memfd_create("tlskit-openssl.cnf", CTLSKitOpenSSLShims_MFD_CLOEXEC)
        guard fd >= 0 else { throw TLSError(.internal, "memfd_create failed: \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            close(fd)
            throw TLSError(.internal, "writing the provider configuration failed")
        }
        return fd
    }

    /// Loads `providers` into `libctx` through a memfd holding the configuration.
    static func load(_ providers: [OpenSSLProvider], into libctx: OpaquePointer) throws(TLSError) {
        for p in providers {
            for (key, value) in p.parameters where key.contains("\n") || value.contains("\n") || key.contains("=") {
                throw TLSError.configuration(field: "providers", "the setting \(key) of \(p.name) has a line break or '='")
            }
        }
        let fd = try descriptor(holding: text(providers))
        defer { close(fd) }
        ERR_clear_error()
        guard OSSL_LIB_CTX_load_config(libctx, "/proc/self/fd/\(fd)") == 1 else {
            let failed = providers.first(where: { OSSL_PROVIDER_available(libctx, $0.name) != 1 }).map(\.name) ?? providers[providers.count - 1].name
            throw OpenSSLLibraryContext.providerError(failed, OpenSSLErrorStack.drain().map(\.text))
        }
    }
}

extension OpenSSLBackend {
    /// For tests: the `fcntl(F_GETFD)` flags of the descriptor the provider configuration is
    /// handed to OpenSSL through (made exactly as ``init(providers:propertyQuery:engines:)``
    /// makes it, then closed).
    package static func providerConfigurationDescriptorFlags() throws -> Int32 {
        let fd = try OpenSSLProviderConfig.descriptor(holding: OpenSSLProviderConfig.text([.default]))
        defer { close(fd) }
        return fcntl(fd, F_GETFD)
    }
}
