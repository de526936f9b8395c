/// What client and server configurations share about negotiation and verification limits,
/// so that a backend builds its settings for either side in one place. `package`: for
/// backends, not public API.
package protocol TLSNegotiationSettings {
    /// Which side the configuration describes.
    var side: TLSSide { get }
    /// The version range after the policy (throws when the bounds contradict it).
    func effectiveVersionRange() throws(TLSError) -> ClosedRange<TLSProtocolVersion>
    var cipherSuites: [TLSCipherSuite]? { get }
    var keyExchangeGroups: [TLSNamedGroup]? { get }
    var securityPolicy: TLSSecurityPolicy { get }
    var applicationProtocols: [TLSApplicationProtocol] { get }
    var backendOptions: TLSBackendOptions { get }
    var verificationTime: TLSVerificationTime? { get }
    var maximumChainLength: Int? { get }
}

extension TLSClientConfiguration: TLSNegotiationSettings {
    package var side: TLSSide { .client }
}

extension TLSServerConfiguration: TLSNegotiationSettings {
    package var side: TLSSide { .server }
}
