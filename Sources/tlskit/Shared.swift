import ArgumentParser
import Foundation
import SwiftASN1
import TLSKit
import TLSKitInsecure
import TLSKitOpenSSL
import TLSKitX509
import X509

#if GnuTLS
import TLSKitGnuTLS
#endif

// stat's fields and S_IFMT: the release build (MemberImportVisibility) does not see them
// through Foundation.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Options every subcommand that builds a context shares.
struct BackendOptions: ParsableArguments {
    @Option(help: "TLS backend: openssl, or gnutls when built with --traits GnuTLS.")
    var backend: String = "openssl"
    @Option(
        name: .customLong("provider"),
        help: "OpenSSL provider to load, in order; repeat it (default: default). For TPM keys: --provider default --provider tpm2.")
    var providers: [String] = []
    @Option(help: "OpenSSL property query for fetches and key loading, e.g. '?tpm2.signature'.")
    var propquery: String?
    @Option(help: "TPM TCTI for the tpm2 provider, e.g. swtpm:host=127.0.0.1,port=2321 (default: TPM2OPENSSL_TCTI).")
    var tcti: String?
    @Option(help: "OpenSSL ENGINE for pkcs11: keys (opt-in bridge): pkcs11.")
    var engine: String?
    @Option(name: .customLong("pkcs11-module"), help: "PKCS#11 module for --engine pkcs11 (default: p11-kit-proxy).")
    var pkcs11Module: String?

    func makeBackend() throws -> any TLSBackend {
        let name = backend.lowercased()
        let openSSLOnly = !providers.isEmpty || propquery != nil || tcti != nil || engine != nil || pkcs11Module != nil
        if name == "openssl" && openSSLOnly {
            var specs = (providers.isEmpty ? ["default"] : providers).map { OpenSSLProvider($0) }
            if let tcti {
                guard let i = specs.firstIndex(where: { $0.name == "tpm2" }) else {
                    throw CLIError.usage("--tcti is a setting of the tpm2 provider; add --provider default --provider tpm2")
                }
                specs[i] = .tpm2(tcti: tcti)
            }
            var engines: [OpenSSLEngine] = []
            if let engine {
                guard engine == "pkcs11" else { throw CLIError.usage("--engine supports pkcs11 only") }
                engines.append(.pkcs11(modulePath: pkcs11Module))
            } else if pkcs11Module != nil {
                throw CLIError.usage("--pkcs11-module goes with --engine pkcs11")
            }
            return try OpenSSLBackend(providers: specs, propertyQuery: propquery, engines: engines)
        }
        if openSSLOnly {
            throw CLIError.usage(
                "--provider, --propquery, --tcti, --engine and --pkcs11-module are OpenSSL settings; the \(name) backend does not use them")
        }
        return try CLI.makeBackend(name)
    }
}

struct VersionOptions: ParsableArguments {
    @Option(name: .customLong("min-version"), help: "Lowest TLS version: 1.2 or 1.3.")
    var minVersion: String?
    @Option(name: .customLong("max-version"), help: "Highest TLS version: 1.2 or 1.3.")
    var maxVersion: String?

    func parsed() throws -> (TLSProtocolVersion?, TLSProtocolVersion?) {
        func parse(_ text: String?, _ flag: String) throws -> TLSProtocolVersion? {
            guard let text else { return nil }
            guard let version = TLSProtocolVersion(text) else {
                throw CLIError.usage("\(flag) must be 1.2 or 1.3, not '\(text)'")
            }
            return version
        }
        return (try parse(minVersion, "--min-version"), try parse(maxVersion, "--max-version"))
    }
}

enum CLIError: Error {
    case usage(String)
    case failed(String)
}

/// Writes NSS key-log lines to a file, for --keylog and SSLKEYLOGFILE.
///
/// The file holds every session secret, so it is created with mode 0600, opened with
/// O_NOFOLLOW (a planted symbolic link is refused) and O_CLOEXEC (no child inherits it), and
/// appended to only when it is a regular file this user owns that no group or other user
/// can read or write (checked with fstat on the opened descriptor, so it cannot be swapped
/// between the check and the use).
final class KeyLogFile: Sendable {
    private let handle: FileHandle
    private let lock = NSLock()

    init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, mode_t(0o600))
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP {
                throw CLIError.usage(
                    "the key-log file \(path) is a symbolic link, and session secrets are never written through one; "
                        + "give the real path of the file, or remove the link")
            }
            throw CLIError.usage(
                "cannot open the key-log file \(path): \(String(cString: strerror(code))); "
                    + "give a path in a directory you can write to")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw CLIError.usage("cannot check the key-log file \(path): \(String(cString: strerror(code)))")
        }
        if let problem = Self.problem(with: info, path: path) {
            close(fd)
            throw CLIError.usage(problem)
        }
        self.handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    /// Why an opened key-log file must not be written to, or `nil` if it is safe.
    static func problem(with info: stat, path: String) -> String? {
        if info.st_mode & S_IFMT != S_IFREG {
            return "the key-log file \(path) is not a regular file; give the path of a regular file (a new one is created with mode 0600)"
        }
        if info.st_uid != geteuid() {
            return "the key-log file \(path) belongs to another user (uid \(info.st_uid), not \(geteuid())), who could read "
                + "the session secrets; remove it or give a new path that you own"
        }
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 {
            return "the key-log file \(path) has mode 0\(String(mode, radix: 8)), so other users can read or change the "
                + "session secrets; run chmod 600 \(path), or give a new path (created with mode 0600)"
        }
        return nil
    }

    func write(_ line: String) {
        lock.withLock { handle.write(Data((line + "\n").utf8)) }
    }

    /// Attaches the key log named by --keylog, or by SSLKEYLOGFILE (honoured by the tool
    /// only, never by the library), with a warning on stderr.
    static func attach(_ path: String?, to hooks: inout TLSContextHooks) throws {
        guard let path = path ?? ProcessInfo.processInfo.environment["SSLKEYLOGFILE"], !path.isEmpty else { return }
        let file = try KeyLogFile(path: path)
        hooks.insecurelyLogKeys { file.write($0) }
        CLI.warn("writing TLS session secrets to \(path): anyone who reads it can decrypt the traffic")
    }
}

enum CLI {
    /// The --verify-time of this run, for explanations.
    nonisolated(unsafe) static var verificationTime: Date?

    static func warn(_ text: String) {
        FileHandle.standardError.write(Data("tlskit: WARNING: \(text)\n".utf8))
    }

    static func parseTime(_ text: String) throws -> Date {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withFullDate]
        if let date = formatter.date(from: text) { return date }
        throw CLIError.usage("--verify-time takes an ISO 8601 time such as 2026-01-31T12:00:00Z, not '\(text)'")
    }

    /// The backends compiled into this build.
    static func allBackends() throws -> [any TLSBackend] {
        var list: [any TLSBackend] = [try OpenSSLBackend()]
        #if GnuTLS
        list.append(try GnuTLSBackend())
        #endif
        return list
    }

    static func makeBackend(_ name: String) throws -> any TLSBackend {
        let backends = try allBackends()
        if let backend = backends.first(where: { $0.name == name.lowercased() }) { return backend }
        let names = backends.map(\.name).joined(separator: ", ")
        let hint = name.lowercased() == "gnutls" ? " (build with --traits GnuTLS to include it)" : ""
        throw CLIError.usage("unknown backend '\(name)'; backends compiled in: \(names)\(hint)")
    }

    static func alpn(_ list: String?) throws -> [TLSApplicationProtocol] {
        guard let list, !list.isEmpty else { return [] }
        return try list.split(separator: ",").map { item in
            guard let p = TLSApplicationProtocol(String(item)) else {
                throw CLIError.usage("'\(item)' is not a valid ALPN identifier")
            }
            return p
        }
    }

    /// Splits `HOST:PORT` (`[v6]:PORT` for IPv6).
    static func hostPort(_ text: String) throws -> (String, UInt16) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            throw CLIError.usage("'\(text)' is not HOST:PORT")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    /// A URI (`pkcs11:`, `handle:`, `file:` …) is an identifier; anything else is a path.
    static func isIdentifier(_ text: String) -> Bool {
        guard let colon = text.firstIndex(of: ":"), !text.hasPrefix("/") else { return false }
        let scheme = text[..<colon]
        return scheme.count > 1 && scheme.allSatisfy { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" }
    }

    static func key(_ text: String, passphraseEnv: String?) -> TLSPrivateKey {
        let passphrase = passphraseEnv.map { TLSPassphrase.environment($0) }
        return isIdentifier(text) ? .identifier(text, passphrase: passphrase) : .file(text, passphrase: passphrase)
    }

    static func certificate(_ text: String) -> TLSCertificate {
        isIdentifier(text) ? .identifier(text) : .file(text)
    }

    /// Prints one line on stderr and exits with the code the tool documents.
    static func exit(for error: Error) -> Never {
        let (line, code): (String, Int32)
        switch error {
        case let e as TLSError:
            let configurationLike = e.code == .configuration || e.code == .unsupportedFeature
            line =
                "\(e.code): \(e.message)" + commandLineHint(for: e.message)
                + (e.verificationFailure.map { " [\($0.explanation(verificationTime: verificationTime ?? Date()))]" } ?? "")
            code = configurationLike ? 1 : 2
        case CLIError.usage(let text):
            (line, code) = (text, 1)
        case CLIError.failed(let text):
            (line, code) = (text, 2)
        default:
            (line, code) = ("\(error)", 1)
        }
        // The last line of defence: an identifier given on the command line may carry a PIN.
        FileHandle.standardError.write(Data("tlskit: error: \(TLSRedaction.redactingPIN(line))\n".utf8))
        Foundation.exit(code)
    }

    /// The library's errors name its API; on the command line, also name the flags that do
    /// the same.
    static func commandLineHint(for message: String) -> String {
        let hints = [
            ("OpenSSLBackend(providers: [.default, .tpm2()]", "--provider default --provider tpm2 --propquery '?tpm2.signature'"),
            ("OpenSSLBackend(engines: [.pkcs11()])", "--engine pkcs11"),
            ("use GnuTLSBackend", "--backend gnutls"),
            ("TLSPrivateKey's passphrase", "--key-passphrase-env VAR"),
            ("OpenSSLProvider.tpm2(tcti:", "--tcti device:/dev/tpmrm0 or --tcti tabrmd:bus_type=system"),
        ]
        let flags = hints.filter { message.contains($0.0) }.map(\.1)
        return flags.isEmpty ? "" : " (on the command line: \(flags.joined(separator: "; ")))"
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\r", with: "\r").replacingOccurrences(of: "\\n", with: "\n")
            .replacingOccurrences(of: "\\t", with: "\t")
    }
}

/// Human-readable and JSON reports of a connection.
enum Report {
    static func lines(_ info: TLSConnectionInfo, indent: String = "  ") -> [String] {
        var out = [
            "\(indent)protocol      \(info.protocolVersion)",
            "\(indent)cipher suite  \(info.cipherSuite)",
            "\(indent)group         \(info.keyExchangeGroup.map { "\($0)" } ?? "-")",
            "\(indent)ALPN          \(info.applicationProtocol.map { "\($0)" } ?? "(none)")",
            "\(indent)server name   \(info.serverName ?? "(none)")",
            "\(indent)resumed       \(info.resumed ? "yes" : "no")",
            "\(indent)peer          \(info.peerVerification)",
            "\(indent)OCSP staple   \(info.ocspResponse.map { "\($0.count) bytes, " + (info.peerVerification == .verified ? "verified: good" : "not checked") } ?? "(none)")",
        ]
        if let leaf = info.peerLeafCertificate {
            out += certificateLines(leaf, indent: indent + "  ")
            out.append("\(indent)  chain       \(info.peerCertificates.count) presented, \(info.verifiedChain.count) verified")
        }
        return out
    }

    static func certificateLines(_ der: [UInt8], indent: String) -> [String] {
        guard let cert = try? Certificate(derEncoded: der) else { return ["\(indent)(certificate could not be parsed)"] }
        var sans: [String] = []
        if let names = try? cert.extensions.subjectAlternativeNames {
            for name in names {
                switch name {
                case .dnsName(let dns): sans.append("DNS:\(dns)")
                case .ipAddress(let octets):
                    let bytes = Array(octets.bytes)
                    sans.append("IP:" + (TLSServerName.ipAddressText(bytes) ?? "\(bytes)"))
                default: sans.append("\(name)")
                }
            }
        }
        let formatter = ISO8601DateFormatter()
        return [
            "\(indent)subject     \(cert.subject)",
            "\(indent)issuer      \(cert.issuer)",
            "\(indent)SANs        \(sans.isEmpty ? "(none)" : sans.joined(separator: ", "))",
            "\(indent)valid       \(formatter.string(from: cert.notValidBefore)) to \(formatter.string(from: cert.notValidAfter))",
        ]
    }

    static func json(
        _ info: TLSConnectionInfo?, error: TLSError?, backend: String, target: String, extra: [String: Any] = [:]
    ) -> String {
        let authenticated = info?.peerVerification == .verified || info?.peerVerification == .pinned
        var object: [String: Any] = ["backend": backend, "target": target, "verified": authenticated]
        if let info {
            object["version"] = "\(info.protocolVersion)"
            object["cipher"] = "\(info.cipherSuite)"
            object["alpn"] = info.applicationProtocol.map { "\($0)" } ?? NSNull()
            object["group"] = info.keyExchangeGroup.map { "\($0)" } ?? NSNull()
            object["serverName"] = info.serverName ?? NSNull()
            object["resumed"] = info.resumed
            object["peerChain"] = info.peerCertificates.map { Data($0).base64EncodedString() }
            object["verifiedChain"] = info.verifiedChain.map { Data($0).base64EncodedString() }
            object["verification"] = "\(info.peerVerification)"
            object["ocspResponse"] = info.ocspResponse.map { Data($0).base64EncodedString() } ?? NSNull()
            // What --pin takes to trust exactly this server's key.
            object["pin"] = info.peerLeafCertificate.flatMap { try? TLSPublicKeyPin(certificateDER: $0) }.map(\.description) ?? NSNull()
        }
        if let error {
            var e: [String: Any] = ["code": "\(error.code)", "message": error.message]
            if let reason = error.verificationFailure?.reason { e["reason"] = reason.rawValue }
            if let alert = error.alert { e["alert"] = "\(alert)" }
            object["error"] = e
            object["verification"] = error.code == .certificateVerification ? "failed" : "not completed"
        }
        object.merge(extra) { _, new in new }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// Lets a value cross into a thread when the code guarantees a single owner at a time.
final class Handoff<T>: @unchecked Sendable {
    // @unchecked: the creator stops touching `value` once it hands the box over.
    var value: T
    init(_ value: T) { self.value = value }
}

func printFlushed(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
