public import TLSKit

/// The only place where TLSKit's checks can be switched off, and where session secrets can
/// be written out. Nothing in the `TLSKit` core can reach it; a backend honours these
/// settings and logs a warning every time a context is built with one of them.
///
/// > Warning: every setting here removes protection against machine-in-the-middle attacks
/// > or exposes the traffic. Use them for tests and debugging only.
public enum TLSInsecure {
    /// Which checks a client skips. Stored in the configuration's backend options.
    public struct Verification: Hashable, Sendable, CustomStringConvertible {
        /// Whether the server's name is checked against its certificate.
        public var checksHostname: Bool
        /// Whether the server's chain is verified at all.
        public var verifiesCertificate: Bool

        /// A combination of checks; ``TLSInsecure/validate(_:)`` refuses skipping the chain
        /// while checking the name.
        public init(checksHostname: Bool, verifiesCertificate: Bool) {
            self.checksHostname = checksHostname
            self.verifiesCertificate = verifiesCertificate
        }

        /// Checks the chain, not the name.
        public static let noHostnameCheck = Verification(checksHostname: false, verifiesCertificate: true)
        /// Checks nothing.
        // swift-format-ignore: DontRepeatTypeInStaticProperties
        // (public API since the first round; `.noVerification` reads as what it does)
        public static let noVerification = Verification(checksHostname: false, verifiesCertificate: false)

        public var description: String {
            verifiesCertificate ? "no hostname check" : "no certificate verification"
        }
    }

    /// The backend-option key under which the insecure verification setting travels
    /// (backends of every name read it; none ignores it).
    public enum VerificationKey: TLSBackendOptionKey {
        public typealias Value = Verification
        public static let backendName = "insecure"
    }

    /// A receiver for NSS key-log lines (`SSLKEYLOGFILE` format: `LABEL client_random secret`),
    /// which let Wireshark decrypt the traffic.
    public enum KeyLogKey: TLSHookExtensionKey {
        public typealias Value = @Sendable (String) -> Void
    }

    /// Checks an insecure verification setting (tlslib's rule: skipping the chain while
    /// still checking the name is meaningless, so it is refused).
    public static func validate(_ verification: Verification) throws(TLSError) {
        if !verification.verifiesCertificate && verification.checksHostname {
            throw TLSError.configuration(
                field: "insecure verification",
                "turning certificate verification off while keeping the hostname check is refused "
                    + "(a name in an unverified certificate proves nothing); use .noVerification")
        }
    }
}

extension TLSClientConfiguration {
    /// > Warning: the server's certificate is still verified, but not its name: any server
    /// > with a certificate from a trusted CA can impersonate any other.
    public mutating func insecurelyDisableHostnameVerification() {
        backendOptions[TLSInsecure.VerificationKey.self] = .noHostnameCheck
    }

    /// > Warning: nothing about the server is checked: anyone can impersonate it.
    public mutating func insecurelyDisableCertificateVerification() {
        backendOptions[TLSInsecure.VerificationKey.self] = .noVerification
    }

    /// The insecure verification setting, if one was made.
    public var insecureVerification: TLSInsecure.Verification? {
        backendOptions[TLSInsecure.VerificationKey.self]
    }
}

extension TLSContextHooks {
    /// Sends every connection's session secrets, as NSS key-log lines, to `sink`.
    ///
    /// > Warning: whoever reads these lines can decrypt the traffic.
    public mutating func insecurelyLogKeys(to sink: @escaping @Sendable (String) -> Void) {
        extensions[TLSInsecure.KeyLogKey.self] = sink
    }

    /// The key-log sink, if one was attached.
    public var insecureKeyLog: (@Sendable (String) -> Void)? { extensions[TLSInsecure.KeyLogKey.self] }
}
