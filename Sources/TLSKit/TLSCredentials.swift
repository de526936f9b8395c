/// A certificate (or a certificate chain, leaf first), described by where it comes from.
///
/// TLSKit does not parse it: the backend does, when a context is built, and reports a
/// malformed or missing certificate then as a ``TLSError/Code/configuration`` error.
/// A PEM source may hold several certificates; where one certificate is expected (the leaf
/// of a ``TLSSigningChain``), the further ones are used as intermediates.
///
/// Value type; `Sendable`, `Hashable`.
public struct TLSCertificate: Hashable, Sendable, CustomStringConvertible {
    /// Where the certificate comes from.
    public enum Source: Hashable, Sendable {
        /// PEM text (`-----BEGIN CERTIFICATE-----`), one or more certificates.
        case pem([UInt8])
        /// One DER-encoded certificate.
        case der([UInt8])
        /// A file holding PEM (one or more) or DER (one) certificates.
        case file(String)
        /// An identifier the backend resolves in a store, e.g. `pkcs11:…;type=cert`.
        case identifier(String)
    }

    /// Where the certificate comes from.
    public var source: Source
    /// Backend-specific settings for loading this certificate. Default: empty.
    public var options: TLSBackendOptions

    /// Describes a certificate from its source.
    public init(_ source: Source, options: TLSBackendOptions = TLSBackendOptions()) {
        self.source = source
        self.options = options
    }

    /// PEM bytes holding one or more certificates.
    public static func pem(_ bytes: [UInt8]) -> TLSCertificate { TLSCertificate(.pem(bytes)) }
    /// PEM text holding one or more certificates.
    public static func pem(_ text: String) -> TLSCertificate { TLSCertificate(.pem(Array(text.utf8))) }
    /// One DER-encoded certificate.
    public static func der(_ bytes: [UInt8]) -> TLSCertificate { TLSCertificate(.der(bytes)) }
    /// A PEM or DER file, read by the backend when the context is built.
    public static func file(_ path: String) -> TLSCertificate { TLSCertificate(.file(path)) }
    /// A certificate held in a store, by identifier (e.g. a PKCS#11 URI).
    public static func identifier(_ id: String) -> TLSCertificate { TLSCertificate(.identifier(id)) }

    public var description: String {
        switch source {
        case .pem(let b): return "TLSCertificate(pem, \(b.count) bytes)"
        case .der(let b): return "TLSCertificate(der, \(b.count) bytes)"
        case .file(let p): return "TLSCertificate(file: \(p))"
        case .identifier(let id): return "TLSCertificate(identifier: \(TLSRedaction.redactingPIN(id)))"
        }
    }
}

/// Where a private key's passphrase or PIN comes from. Never printed.
public enum TLSPassphrase: Hashable, Sendable, CustomStringConvertible {
    /// The passphrase itself, kept in zeroing storage.
    case bytes(TLSSecureBytes)
    /// The name of an environment variable read when the context is built.
    case environment(String)

    /// A passphrase given as text (copied into zeroing storage).
    public static func text(_ text: String) -> TLSPassphrase { .bytes(TLSSecureBytes(utf8: text)) }

    public var description: String {
        switch self {
        case .bytes: return "TLSPassphrase(redacted)"
        case .environment(let name): return "TLSPassphrase(environment: \(name))"
        }
    }
}

/// A private key, described by where it comes from.
///
/// Key bytes given here are kept in ``TLSSecureBytes`` (zeroed on release, never printed)
/// and handed straight to the backend — never through temporary files. A key given by
/// ``Source/identifier(_:)`` (a `pkcs11:` URI, a TPM `handle:0x81000001`) is used by
/// reference: its secret never enters this process.
///
/// Value type; `Sendable`, `Hashable`. `description` never shows key material.
public struct TLSPrivateKey: Hashable, Sendable, CustomStringConvertible {
    /// Where the key comes from.
    public enum Source: Hashable, Sendable {
        /// PEM text (PKCS#8, traditional, or encrypted PKCS#8).
        case pem(TLSSecureBytes)
        /// DER (PKCS#8 or traditional).
        case der(TLSSecureBytes)
        /// A PEM or DER file, read by the backend.
        case file(String)
        /// An identifier the backend resolves in a key store, e.g. `pkcs11:…;type=private`
        /// or `handle:0x81000001`.
        case identifier(String)
        /// Code of yours that signs on request (see ``TLSSigner``): the key stays wherever
        /// the signer keeps it. ``TLSPrivateKey/passphrase`` does not apply.
        case signer(TLSAnySigner)
    }

    /// Where the key comes from.
    public var source: Source
    /// The passphrase for an encrypted key, or the PIN of a token. Default: none.
    public var passphrase: TLSPassphrase?
    /// Backend-specific settings for loading this key. Default: empty.
    public var options: TLSBackendOptions

    /// Describes a key from its source.
    public init(_ source: Source, passphrase: TLSPassphrase? = nil, options: TLSBackendOptions = TLSBackendOptions()) {
        self.source = source
        self.passphrase = passphrase
        self.options = options
    }

    /// PEM bytes (copied into zeroing storage; clear your own copy).
    public static func pem(_ bytes: [UInt8], passphrase: TLSPassphrase? = nil) -> TLSPrivateKey {
        TLSPrivateKey(.pem(TLSSecureBytes(bytes)), passphrase: passphrase)
    }
    /// PEM text (copied into zeroing storage).
    public static func pem(_ text: String, passphrase: TLSPassphrase? = nil) -> TLSPrivateKey {
        TLSPrivateKey(.pem(TLSSecureBytes(utf8: text)), passphrase: passphrase)
    }
    /// DER bytes (copied into zeroing storage; clear your own copy).
    public static func der(_ bytes: [UInt8], passphrase: TLSPassphrase? = nil) -> TLSPrivateKey {
        TLSPrivateKey(.der(TLSSecureBytes(bytes)), passphrase: passphrase)
    }
    /// A key file, read by the backend when the context is built.
    public static func file(_ path: String, passphrase: TLSPassphrase? = nil) -> TLSPrivateKey {
        TLSPrivateKey(.file(path), passphrase: passphrase)
    }
    /// A key held in a store or device, by identifier.
    public static func identifier(_ id: String, passphrase: TLSPassphrase? = nil) -> TLSPrivateKey {
        TLSPrivateKey(.identifier(id), passphrase: passphrase)
    }

    public var description: String {
        switch source {
        case .pem(let b): return "TLSPrivateKey(pem, \(b.count) bytes, redacted)"
        case .der(let b): return "TLSPrivateKey(der, \(b.count) bytes, redacted)"
        case .file(let p): return "TLSPrivateKey(file: \(p))"
        case .identifier(let id): return "TLSPrivateKey(identifier: \(TLSRedaction.redactingPIN(id)))"
        case .signer(let signer): return "TLSPrivateKey(\(signer))"
        }
    }
}

/// What a peer's certificate chain is verified against.
///
/// There is no `nil` that secretly means "system": a configuration says
/// ``TLSTrustStore/system`` or names its roots. Value type; `Sendable`, `Hashable`.
public struct TLSTrustStore: Hashable, Sendable, CustomStringConvertible {
    /// Where the trusted roots come from.
    public enum Source: Hashable, Sendable {
        /// The operating system's roots, found by the backend (on Debian:
        /// `/etc/ssl/certs`).
        case system
        /// PEM text with one or more root certificates.
        case pem([UInt8])
        /// DER-encoded root certificates.
        case der([[UInt8]])
        /// A PEM file with one or more roots.
        case file(String)
        /// A directory of hashed root certificates (`c_rehash` layout).
        case directory(String)
        /// An identifier the backend resolves in a store.
        case identifier(String)
        /// No roots: exactly these keys are trusted (see ``TLSTrustStore/pinned(keys:certificates:)``).
        case pinned(keys: [TLSPublicKeyPin], certificates: [TLSCertificate])
    }

    /// Where the trusted roots come from.
    public var source: Source
    /// Backend-specific settings. Default: empty.
    public var options: TLSBackendOptions

    /// Describes a trust store.
    public init(_ source: Source, options: TLSBackendOptions = TLSBackendOptions()) {
        self.source = source
        self.options = options
    }

    /// The operating system's trusted roots.
    public static let system = TLSTrustStore(.system)
    /// Roots from PEM bytes.
    public static func pem(_ bytes: [UInt8]) -> TLSTrustStore { TLSTrustStore(.pem(bytes)) }
    /// Roots from PEM text.
    public static func pem(_ text: String) -> TLSTrustStore { TLSTrustStore(.pem(Array(text.utf8))) }
    /// Roots from DER certificates.
    public static func der(_ certificates: [[UInt8]]) -> TLSTrustStore { TLSTrustStore(.der(certificates)) }
    /// Roots from a PEM file.
    public static func file(_ path: String) -> TLSTrustStore { TLSTrustStore(.file(path)) }
    /// Roots from a hashed directory.
    public static func directory(_ path: String) -> TLSTrustStore { TLSTrustStore(.directory(path)) }
    /// Roots from a store, by identifier.
    public static func identifier(_ id: String) -> TLSTrustStore { TLSTrustStore(.identifier(id)) }

    public var description: String {
        switch source {
        case .system: return "TLSTrustStore(system)"
        case .pem(let b): return "TLSTrustStore(pem, \(b.count) bytes)"
        case .der(let c): return "TLSTrustStore(der, \(c.count) certificates)"
        case .file(let p): return "TLSTrustStore(file: \(p))"
        case .directory(let p): return "TLSTrustStore(directory: \(p))"
        case .identifier(let id): return "TLSTrustStore(identifier: \(TLSRedaction.redactingPIN(id)))"
        case .pinned(let keys, let certificates):
            return "TLSTrustStore(pinned: \((keys.map(\.description) + certificates.map(\.description)).joined(separator: ", ")))"
        }
    }
}

/// What one side presents: a leaf certificate, its private key, and the intermediates
/// that lead to a root the peer trusts.
///
/// If ``certificate`` holds several PEM certificates, the ones after the first are sent as
/// intermediates before ``intermediates``. Value type; `Sendable`, `Hashable`.
public struct TLSSigningChain: Hashable, Sendable {
    /// The leaf certificate (possibly followed by intermediates, in a PEM source).
    public var certificate: TLSCertificate
    /// The leaf's private key.
    public var privateKey: TLSPrivateKey
    /// Further intermediate certificates, closest to the leaf first. Default: none.
    public var intermediates: [TLSCertificate]
    /// Servers: the leaf's OCSP response, stapled for clients that ask (status_request).
    /// It must be about this leaf, or the context is refused when it is built. Renew it
    /// before its nextUpdate with ``TLSServerContext/replaceCertificateChains(_:)``.
    /// Default `nil`: nothing stapled.
    public var ocspResponse: TLSOCSPResponse?

    /// Creates a signing chain.
    public init(
        certificate: TLSCertificate, privateKey: TLSPrivateKey, intermediates: [TLSCertificate] = [],
        ocspResponse: TLSOCSPResponse? = nil
    ) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.intermediates = intermediates
        self.ocspResponse = ocspResponse
    }
}

/// A certificate revocation list (CRL), described by where it comes from. Value type.
public struct TLSRevocationList: Hashable, Sendable, CustomStringConvertible {
    /// Where the CRL comes from.
    public enum Source: Hashable, Sendable {
        /// PEM text (`-----BEGIN X509 CRL-----`), one or more CRLs.
        case pem([UInt8])
        /// One DER-encoded CRL.
        case der([UInt8])
        /// A file holding PEM or DER CRLs.
        case file(String)
    }

    /// Where the CRL comes from.
    public var source: Source

    /// Describes a CRL.
    public init(_ source: Source) { self.source = source }

    /// CRLs in PEM text.
    public static func pem(_ text: String) -> TLSRevocationList { TLSRevocationList(.pem(Array(text.utf8))) }
    /// A CRL file.
    public static func file(_ path: String) -> TLSRevocationList { TLSRevocationList(.file(path)) }

    public var description: String {
        switch source {
        case .pem(let b): return "TLSRevocationList(pem, \(b.count) bytes)"
        case .der(let b): return "TLSRevocationList(der, \(b.count) bytes)"
        case .file(let p): return "TLSRevocationList(file: \(p))"
        }
    }
}
