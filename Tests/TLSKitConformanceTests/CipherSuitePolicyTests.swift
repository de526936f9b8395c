import TLSKit
import TLSKitOpenSSL
import TLSKitTestSupport
import Testing

/// Anonymous, NULL-encryption, PSK and SRP suites are never offered or accepted, under any
/// policy (`.compatible` and OpenSSL security level 0 included), on every backend.
@Suite("Negative: suites without authentication or encryption")
struct CipherSuitePolicyTests {
    /// One of each kind: (code, IANA name).
    static let refused: [(UInt16, String)] = [
        (0xC018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA"),
        (0x003B, "TLS_RSA_WITH_NULL_SHA256"),
        (0x00A8, "TLS_PSK_WITH_AES_128_GCM_SHA256"),
        (0xC01D, "TLS_SRP_SHA_WITH_AES_128_CBC_SHA"),
    ]
    static let cases: [(BackendUnderTest, UInt16)] = TestBackends.all.flatMap { b in refused.map { (b, $0.0) } }

    /// As permissive as a configuration can be: `.compatible`, TLS 1.2, OpenSSL level 0.
    static func permissive<C>(_ config: inout C, suites: [TLSCipherSuite]) where C: PermissiveConfigurable {
        config.securityPolicy = .compatible
        config.maximumVersion = .tls1_2
        config.cipherSuites = suites
        config.backendOptions[OpenSSLOptions.SecurityLevel.self] = 0
    }

    @Test(arguments: cases)
    func aConfigurationNamingOneFailsWhenTheContextIsBuilt(backend: BackendUnderTest, code: UInt16) throws {
        let suite = TLSCipherSuite(rawValue: code)
        let name = Self.refused.first { $0.0 == code }!.1
        var client = Fixtures.clientConfig()
        Self.permissive(&client, suites: [suite, .ecdheECDSAWithAES128CBCSHA])
        var server = Fixtures.serverConfig()
        Self.permissive(&server, suites: [.ecdheECDSAWithAES128CBCSHA, suite])
        for error in [
            #expect(throws: TLSError.self, "\(name)") { _ = try backend.make().makeClientContext(client) },
            #expect(throws: TLSError.self, "\(name)") { _ = try backend.make().makeServerContext(server) },
        ] {
            #expect(error?.code == .configuration || error?.code == .unsupportedFeature)
            #expect(error?.message.contains(suite.description) == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("never offered or accepted") == true, "\(error?.message ?? "")")
        }
        #expect(throws: TLSError.self) { try backend.make().validate(client) }
    }

    @Test(arguments: TestBackends.all)
    func capabilitiesDoNotListThem(backend: BackendUnderTest) throws {
        let listed = Set(try backend.make().capabilities.cipherSuites.map(\.rawValue))
        for (code, name) in Self.refused {
            #expect(!listed.contains(code), "\(backend) lists \(name)")
        }
        // Every listed suite can actually be configured (nothing refused hides in the list).
        #expect(listed.contains(TLSCipherSuite.ecdheECDSAWithAES128GCMSHA256.rawValue))
    }

    /// Both ends forced as low as they go and naming the anonymous suite: no context, or no
    /// handshake with it.
    @Test(arguments: TestBackends.all)
    func aForcedLevelZeroPairNeverNegotiatesAnAnonymousSuite(backend: BackendUnderTest) throws {
        let anonymous = TLSCipherSuite(rawValue: 0xC018)
        var client = Fixtures.clientConfig()
        Self.permissive(&client, suites: [anonymous])
        var server = Fixtures.serverConfig()
        Self.permissive(&server, suites: [anonymous, .ecdheECDSAWithAES128CBCSHA])
        let pair: ConnectionPair
        do {
            pair = try backend.pair(client: client, server: server)
        } catch let error as TLSError {
            #expect(error.message.contains("never offered or accepted"), "\(error)")
            return
        }
        let completed = pair.handshake()
        #expect(!completed, "\(backend) completed a handshake with \(pair.client.connectionInfo.map { "\($0.cipherSuite)" } ?? "?")")
    }
}

/// The configuration fields the permissive set-up touches.
protocol PermissiveConfigurable {
    var securityPolicy: TLSSecurityPolicy { get set }
    var maximumVersion: TLSProtocolVersion? { get set }
    var cipherSuites: [TLSCipherSuite]? { get set }
    var backendOptions: TLSBackendOptions { get set }
}

extension TLSClientConfiguration: PermissiveConfigurable {}
extension TLSServerConfiguration: PermissiveConfigurable {}
