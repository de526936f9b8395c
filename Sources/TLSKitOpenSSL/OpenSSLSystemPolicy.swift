internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
package import TLSKit

#if canImport(Glibc)
import Glibc
#endif

/// The system's TLS policy, as `.systemDefault` follows it: the commands of the
/// `system_default` entry of the `ssl_conf` module in the OpenSSL configuration file
/// (`OPENSSL_CONF`, else OpenSSL's default `openssl.cnf`), e.g. `MinProtocol`,
/// `CipherString` (with its `@SECLEVEL`), `Ciphersuites`, `Groups`.
///
/// Read once per backend, when its library context is created, with `NCONF_load` in that
/// library context; the file's modules are *not* run. Running them
/// (`OSSL_LIB_CTX_load_config`) would also activate the file's providers in the private
/// library context, which loads exactly the providers it was asked for, and on OpenSSL 3.0
/// the `ssl_conf` module keeps its result in one process-wide table that `SSL_CTX_config`
/// and every `SSL_CTX_new_ex` read, replaced without a lock when any library context loads
/// a file. So the commands are kept here, per backend, and applied to each `.systemDefault`
/// `SSL_CTX` with an `SSL_CONF_CTX` — what OpenSSL itself does with `system_default`.
struct OpenSSLSystemPolicy: Sendable {
    struct Command: Sendable, Equatable {
        var name: String
        var value: String
    }

    /// The file the policy came from (`nil`: no file, no policy).
    let path: String?
    /// The commands, in file order.
    let commands: [Command]

    static let none = OpenSSLSystemPolicy(path: nil, commands: [])

    /// The `CipherString` the system sets, if any (the last one wins, as in OpenSSL).
    var cipherString: String? { commands.last { $0.name == "CipherString" }?.value }

    /// Reads the system policy: `OPENSSL_CONF` (read under TLSKit's environment lock), else
    /// OpenSSL's default configuration file. A missing default file is no policy; a missing
    /// `OPENSSL_CONF` file, or a file OpenSSL cannot parse, is an error (fail closed: the
    /// administrator asked for a policy TLSKit cannot read).
    static func load(libraryContext: OpaquePointer) -> Result<OpenSSLSystemPolicy, TLSError> {
        if let named = TLSEnvironment.secret("OPENSSL_CONF").map({ $0.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }),
            !named.isEmpty
        {
            return Result { () throws(TLSError) in try read(named, required: true, libraryContext: libraryContext) }
        }
        guard let raw = CONF_get1_default_config_file() else { return .success(.none) }
        let path = String(cString: raw)
        CTLSKitOpenSSLShims_OPENSSL_free(raw)
        return Result { () throws(TLSError) in try read(path, required: false, libraryContext: libraryContext) }
    }

    /// Parses `path` and returns its `system_default` commands.
    static func read(_ path: String, required: Bool, libraryContext: OpaquePointer?) throws(TLSError) -> OpenSSLSystemPolicy {
        guard access(path, F_OK) == 0 else {
            if !required { return .none }
            throw TLSError(
                .configuration,
                "securityPolicy .systemDefault: OPENSSL_CONF names \(path), which does not exist; point OPENSSL_CONF at the "
                    + "system's OpenSSL configuration or unset it", feature: "securityPolicy")
        }
        guard let conf = NCONF_new_ex(libraryContext, nil) else {
            throw TLSError(.internal, "NCONF_new_ex failed", backendErrors: OpenSSLErrorStack.drain().map(\.text))
        }
        defer { NCONF_free(conf) }
        ERR_clear_error()
        var line: Int = -1
        guard NCONF_load(conf, path, &line) == 1 else {
            throw TLSError(
                .configuration,
                "securityPolicy .systemDefault: OpenSSL cannot parse its configuration file \(path)"
                    + (line > 0 ? " (line \(line))" : "") + "; fix the file, or use the .modern or .compatible policy, "
                    + "which do not read it",
                backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: "securityPolicy")
        }
        // openssl_conf = <init section>; [init] ssl_conf = <ssl section>; [ssl] system_default = <commands>.
        func value(_ section: String?, _ name: String) -> String? {
            ERR_set_mark()
            defer { ERR_pop_to_mark() }
            return NCONF_get_string(conf, section, name).map { String(cString: $0) }
        }
        guard let initSection = value(nil, "openssl_conf"), let sslSection = value(initSection, "ssl_conf"),
            let systemSection = value(sslSection, "system_default")
        else { return OpenSSLSystemPolicy(path: path, commands: []) }
        ERR_set_mark()
        let stack = NCONF_get_section(conf, systemSection)
        ERR_pop_to_mark()
        guard let stack else {
            throw TLSError(
                .configuration,
                "securityPolicy .systemDefault: \(path) names the section [\(systemSection)] for system_default, but it "
                    + "does not exist; fix the file", feature: "securityPolicy")
        }
        var commands: [Command] = []
        for i in 0..<OPENSSL_sk_num(stack) {
            guard let raw = OPENSSL_sk_value(stack, i) else { continue }
            let entry = raw.assumingMemoryBound(to: CONF_VALUE.self).pointee
            guard let name = entry.name, let value = entry.value else { continue }
            // As OpenSSL's ssl_conf module: a prefix up to the last '.' only makes names unique.
            var command = String(cString: name)
            if let dot = command.lastIndex(of: ".") { command = String(command[command.index(after: dot)...]) }
            commands.append(Command(name: command, value: String(cString: value)))
        }
        return OpenSSLSystemPolicy(path: path, commands: commands)
    }

    /// Applies the commands to `ctx`, as OpenSSL applies `system_default` (without
    /// certificate commands: a system policy never chooses a context's credentials).
    func apply(to ctx: OpaquePointer, side: TLSSide) throws(TLSError) {
        guard !commands.isEmpty, let path else { return }
        guard let cctx = SSL_CONF_CTX_new() else { throw TLSError(.internal, "SSL_CONF_CTX_new failed") }
        defer { SSL_CONF_CTX_free(cctx) }
        let flags = UInt32(SSL_CONF_FLAG_FILE) | UInt32(side == .client ? SSL_CONF_FLAG_CLIENT : SSL_CONF_FLAG_SERVER)
        _ = SSL_CONF_CTX_set_flags(cctx, flags)
        SSL_CONF_CTX_set_ssl_ctx(cctx, ctx)
        for command in commands {
            ERR_clear_error()
            let status = SSL_CONF_cmd(cctx, command.name, command.value)
            guard status > 0 else {
                throw TLSError(
                    .configuration,
                    "securityPolicy .systemDefault: the system's OpenSSL configuration \(path) sets "
                        + "\(command.name) = \(command.value), which OpenSSL "
                        + (status == -2 ? "does not know as a TLS setting" : "refuses")
                        + "; fix the file's system_default section, or use the .modern or .compatible policy",
                    backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: "securityPolicy")
            }
        }
        guard SSL_CONF_CTX_finish(cctx) == 1 else {
            throw TLSError(
                .configuration, "securityPolicy .systemDefault: applying \(path)'s system_default section failed",
                backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: "securityPolicy")
        }
    }
}

extension OpenSSLBackend {
    /// For tests: a backend whose `.systemDefault` follows the OpenSSL configuration at
    /// `path` (as if `OPENSSL_CONF` named it when the backend was made), without changing the
    /// process's environment.
    package init(systemConfigurationForTesting path: String) throws(TLSError) {
        library = try OpenSSLLibraryContext(providers: [.default], propertyQuery: nil, systemConfiguration: path)
    }
}
