/// A named bundle of defaults for versions, cipher suites, groups and key strength.
///
/// Fields set explicitly in a configuration narrow the policy further; they cannot widen
/// it beyond what the policy allows (a contradiction is a ``TLSError/Code/configuration``
/// error when the context is built).
public struct TLSSecurityPolicy: Hashable, Sendable, CustomStringConvertible {
    private enum Base: String, Hashable, Sendable { case systemDefault, modern, compatible }
    private let base: Base
    private init(_ base: Base) { self.base = base }

    /// The operating system's policy, with TLSKit's floor of TLS 1.2 and its suite
    /// exclusions (no anonymous, NULL, PSK or SRP) on top. The default of every
    /// configuration.
    ///
    /// - OpenSSL: the `system_default` section of the `ssl_conf` module in `OPENSSL_CONF`,
    ///   else OpenSSL's default `openssl.cnf` (`MinProtocol`, `MaxProtocol`,
    ///   `CipherString` with its `@SECLEVEL`, `Ciphersuites`, `Groups` …), read when the
    ///   backend is made; without one, OpenSSL's `DEFAULT` list at its default security
    ///   level (2 on Debian).
    /// - GnuTLS: the `@SYSTEM` priority where the system priority file
    ///   (`GNUTLS_SYSTEM_PRIORITY_FILE`, else `/etc/gnutls/config`; read when the process
    ///   loads GnuTLS) defines `SYSTEM`, else `NORMAL`.
    ///
    /// Explicit versions narrow what the system allows (nothing left is a
    /// ``TLSError/Code/configuration`` error); explicit cipher suites and groups replace the
    /// system's. A policy file that cannot be read or applied fails the context with
    /// ``TLSError/Code/configuration``, naming the file.
    public static let systemDefault = TLSSecurityPolicy(.systemDefault)
    /// TLS 1.3 only, AEAD suites only, keys of at least 128-bit strength. For services
    /// whose clients are all current.
    public static let modern = TLSSecurityPolicy(.modern)
    /// For old peers: allows CBC and non-forward-secret TLS 1.2 suites, weaker keys
    /// (112-bit, e.g. RSA-2048 with SHA-1 signatures), and TLS 1.0/1.1 when
    /// ``TLSClientConfiguration/minimumVersion`` asks for them.
    ///
    /// > Warning: weaker than the default; every context built with it logs a warning.
    public static let compatible = TLSSecurityPolicy(.compatible)

    /// `true` for ``modern``.
    public var isModern: Bool { base == .modern }
    /// `true` for ``compatible``.
    public var isCompatible: Bool { base == .compatible }

    /// The lowest protocol version the policy allows.
    public var floor: TLSProtocolVersion {
        switch base {
        case .modern: return .tls1_3
        case .systemDefault: return .tls1_2
        case .compatible: return .tls1_0
        }
    }

    public var description: String { base.rawValue }
}
