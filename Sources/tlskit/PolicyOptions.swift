import ArgumentParser
import Foundation
import TLSKit

/// The options people reach for in s_client/s_server, shared by `connect` and `serve`.
struct PolicyOptions: ParsableArguments {
    @Option(help: "Comma-separated cipher suites, most preferred first: IANA names (TLS_AES_128_GCM_SHA256) or codes (0x1301).")
    var ciphers: String?
    @Option(help: "Comma-separated key-exchange groups, most preferred first (x25519, secp256r1 or P-256, …).")
    var groups: String?
    @Option(help: "Security policy: system (default), modern (TLS 1.3 only) or compatible (legacy suites and versions; warns).")
    var policy: String?
    @Option(name: .customLong("verify-depth"), help: "The longest peer chain accepted, leaf and trust anchor counted (maximumChainLength).")
    var verifyDepth: Int?
    @Option(
        name: .customLong("crl"), help: "A file of CRLs (PEM or DER) to check the peer's chain against (repeatable); every CA of the chain needs one."
    )
    var crls: [String] = []

    func securityPolicy() throws -> TLSSecurityPolicy? {
        switch policy {
        case nil: return nil
        case "system", "systemDefault": return .systemDefault
        case "modern": return .modern
        case "compatible": return .compatible
        case let other?: throw CLIError.usage("--policy must be system, modern or compatible, not '\(other)'")
        }
    }

    func cipherSuites() throws -> [TLSCipherSuite]? {
        try ciphers.map { list in
            try list.split(separator: ",").map { item in
                let name = item.trimmingCharacters(in: .whitespaces)
                if let suite = TLSCipherSuite(ianaName: name) { return suite }
                if name.lowercased().hasPrefix("0x"), let code = UInt16(name.dropFirst(2), radix: 16) { return TLSCipherSuite(rawValue: code) }
                throw CLIError.usage("--ciphers: '\(name)' is not a cipher suite; use IANA names (TLS_AES_128_GCM_SHA256) or codes (0x1301)")
            }
        }
    }

    func keyExchangeGroups() throws -> [TLSNamedGroup]? {
        try groups.map { list in
            try list.split(separator: ",").map { item in
                let name = item.trimmingCharacters(in: .whitespaces)
                guard let group = TLSNamedGroup(name: name) else {
                    throw CLIError.usage("--groups: '\(name)' is not a key-exchange group (x25519, secp256r1, secp384r1, …)")
                }
                return group
            }
        }
    }

    /// Applies the options to a client or server configuration.
    func apply(to config: inout some PolicyConfigurable) throws {
        if let policy = try securityPolicy() { config.securityPolicy = policy }
        config.cipherSuites = try cipherSuites()
        config.keyExchangeGroups = try keyExchangeGroups()
        config.maximumChainLength = verifyDepth
        config.revocationLists = crls.map { .file($0) }
    }
}

/// The settings ``PolicyOptions`` sets, which client and server configurations share.
protocol PolicyConfigurable {
    var securityPolicy: TLSSecurityPolicy { get set }
    var cipherSuites: [TLSCipherSuite]? { get set }
    var keyExchangeGroups: [TLSNamedGroup]? { get set }
    var maximumChainLength: Int? { get set }
    var revocationLists: [TLSRevocationList] { get set }
}

extension TLSClientConfiguration: PolicyConfigurable {}
extension TLSServerConfiguration: PolicyConfigurable {}
