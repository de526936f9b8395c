import Foundation
import SwiftASN1
import TLSKit
import TLSKitTestSupport
import Testing
import X509

/// Happy paths: every backend, both versions, both key types.
@Suite("Handshakes")
struct HandshakeTests {
    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func completesAndReportsWhatWasNegotiated(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        for keyType in TestPKI.KeyType.allCases {
            var client = Fixtures.clientConfig(trusting: Fixtures.rootFor(keyType))
            client.maximumVersion = version
            client.minimumVersion = version
            let identity = Fixtures.serverIdentity(keyType)
            let pair = try backend.pair(client: client, server: Fixtures.serverConfig(identity))
            #expect(pair.handshake(), "client: \(String(describing: pair.clientError)) server: \(String(describing: pair.serverError))")

            let info = try #require(pair.client.connectionInfo)
            #expect(info.protocolVersion == version)
            #expect(info.cipherSuite.isTLS13 == (version == .tls1_3))
            #expect(info.peerVerification == .verified)
            #expect(info.peerLeafCertificate == identity.certificateDER)
            #expect(info.verifiedChain.last == Fixtures.rootFor(keyType).identity.certificateDER)
            #expect(info.serverName == "localhost")
            #expect(info.resumed == false)
            let parsed = try Certificate(derEncoded: try #require(info.peerLeafCertificate))
            #expect(parsed.subject.description.contains("localhost"))

            let serverInfo = try #require(pair.server.connectionInfo)
            #expect(serverInfo.protocolVersion == version)
            #expect(serverInfo.cipherSuite == info.cipherSuite)
            #expect(serverInfo.serverName == "localhost")
            #expect(serverInfo.peerCertificates.isEmpty)
            #expect(serverInfo.peerVerification == .noCertificate)
        }
    }

    @Test(arguments: TestBackends.all)
    func exchangesDataBothWaysIntact(backend: BackendUnderTest) throws {
        let pair = try backend.pair(client: Fixtures.clientConfig(), server: Fixtures.serverConfig())
        #expect(pair.handshake())
        #expect(try pair.send(Array("ping".utf8), from: pair.client) == Array("ping".utf8))
        #expect(try pair.send(Array("pong".utf8), from: pair.server) == Array("pong".utf8))
        // 1 MiB in one write crosses many records and still arrives byte-for-byte.
        var big = [UInt8](repeating: 0, count: 1 << 20)
        for i in big.indices { big[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        #expect(try pair.send(big, from: pair.client) == big)
    }

    @Test(arguments: TestBackends.all)
    func verifiesIPAddressNames(backend: BackendUnderTest) throws {
        let ok = try backend.pair(client: Fixtures.clientConfig(), server: Fixtures.serverConfig(), serverName: "127.0.0.1")
        #expect(ok.handshake())
        #expect(ok.client.connectionInfo?.serverName == "127.0.0.1")
        // The server sees no SNI for an IP address (RFC 6066 §3).
        #expect(ok.server.connectionInfo?.serverName == nil)

        let wrong = try backend.pair(client: Fixtures.clientConfig(), server: Fixtures.serverConfig(), serverName: "127.0.0.2")
        #expect(!wrong.handshake())
        #expect(wrong.clientError?.code == .certificateVerification)
        #expect(wrong.clientError?.verificationFailure?.reason == .hostnameMismatch)
    }

    @Test(arguments: TestBackends.all)
    func chainWithIntermediateVerifiesAgainstTheRoot(backend: BackendUnderTest) throws {
        let intermediate = try Fixtures.root.intermediate()
        let leaf = try intermediate.issue(usage: .server)
        #expect(leaf.intermediates.count == 1)
        let pair = try backend.pair(client: Fixtures.clientConfig(), server: Fixtures.serverConfig(leaf))
        #expect(pair.handshake(), "\(String(describing: pair.clientError))")
        let info = try #require(pair.client.connectionInfo)
        #expect(info.peerCertificates.count == 2)
        #expect(info.verifiedChain.count == 3)

        // Without the intermediate the client cannot build a path.
        var bare = Fixtures.serverConfig(leaf)
        bare.certificateChains[0] = TLSSigningChain(certificate: .pem(leaf.certificatePEM), privateKey: .pem(leaf.privateKeyPEM))
        let broken = try backend.pair(client: Fixtures.clientConfig(), server: bare)
        #expect(!broken.handshake())
        #expect(broken.clientError?.verificationFailure?.reason == .unknownIssuer)
    }

    @Test(arguments: TestBackends.all)
    func negotiatesALPNInTheServersOrder(backend: BackendUnderTest) throws {
        var client = Fixtures.clientConfig()
        client.applicationProtocols = [.http1_1, .http2]
        var server = Fixtures.serverConfig()
        server.applicationProtocols = [.http2, .http1_1]
        let pair = try backend.pair(client: client, server: server)
        #expect(pair.handshake())
        #expect(pair.client.connectionInfo?.applicationProtocol == .http2)
        #expect(pair.server.connectionInfo?.applicationProtocol == .http2)

        // A server without ALPN ignores the client's offer.
        let quiet = try backend.pair(client: client, server: Fixtures.serverConfig())
        #expect(quiet.handshake())
        #expect(quiet.client.connectionInfo?.applicationProtocol == nil)
    }

    @Test(arguments: TestBackends.all)
    func serverChoosesTheChainByServerName(backend: BackendUnderTest) throws {
        let a = try Fixtures.root.issue(commonName: "a", dnsNames: ["a.test"], ipAddresses: [], usage: .server)
        let b = try Fixtures.root.issue(commonName: "b", dnsNames: ["b.test", "*.b.test"], ipAddresses: [], usage: .server)
        let server = TLSServerConfiguration(certificateChains: [a.signingChain, b.signingChain])
        for (name, expected) in [("a.test", a), ("b.test", b), ("www.b.test", b)] {
            let pair = try backend.pair(client: Fixtures.clientConfig(), server: server, serverName: name)
            #expect(pair.handshake(), "\(name): \(String(describing: pair.clientError))")
            #expect(pair.client.connectionInfo?.peerLeafCertificate == expected.certificateDER, "\(name)")
            #expect(pair.server.connectionInfo?.serverName == name)
        }
        // An unknown name gets the default (first) chain, which the client then rejects.
        let other = try backend.pair(client: Fixtures.clientConfig(), server: server, serverName: "c.test")
        #expect(!other.handshake())
        #expect(other.clientError?.verificationFailure?.reason == .hostnameMismatch)
    }

    @Test(arguments: TestBackends.all)
    func honoursCipherSuitesAndGroups(backend: BackendUnderTest) throws {
        var client = Fixtures.clientConfig()
        client.maximumVersion = .tls1_2
        client.cipherSuites = [.ecdheECDSAWithAES256GCMSHA384]
        // TLS 1.2 needs the certificate's curve (P-256) among the client's groups.
        client.keyExchangeGroups = [.secp384r1, .secp256r1]
        var server = Fixtures.serverConfig()
        server.keyExchangeGroups = [.secp384r1]
        let pair = try backend.pair(client: client, server: server)
        #expect(pair.handshake(), "\(String(describing: pair.clientError)) / \(String(describing: pair.serverError))")
        #expect(pair.client.connectionInfo?.cipherSuite == .ecdheECDSAWithAES256GCMSHA384)
        #expect(pair.client.connectionInfo?.keyExchangeGroup == .secp384r1)

        var client13 = Fixtures.clientConfig()
        client13.minimumVersion = .tls1_3
        client13.cipherSuites = [.tlsCHACHA20POLY1305SHA256]
        client13.keyExchangeGroups = [.secp521r1]
        let pair13 = try backend.pair(client: client13, server: Fixtures.serverConfig())
        #expect(pair13.handshake())
        #expect(pair13.client.connectionInfo?.cipherSuite == .tlsCHACHA20POLY1305SHA256)
        #expect(pair13.client.connectionInfo?.keyExchangeGroup == .secp521r1)
    }

    @Test(arguments: TestBackends.all)
    func modernPolicyNegotiatesOnlyTLS13(backend: BackendUnderTest) throws {
        var client = Fixtures.clientConfig()
        client.securityPolicy = .modern
        let pair = try backend.pair(client: client, server: Fixtures.serverConfig())
        #expect(pair.handshake())
        #expect(pair.client.connectionInfo?.protocolVersion == .tls1_3)

        var server = Fixtures.serverConfig()
        server.securityPolicy = .modern
        var old = Fixtures.clientConfig()
        old.maximumVersion = .tls1_2
        let refused = try backend.pair(client: old, server: server)
        #expect(!refused.handshake())
        #expect(refused.serverError?.code == .handshake)
    }

    @Test(arguments: TestBackends.all)
    func cleanShutdownExchangesCloseNotify(backend: BackendUnderTest) throws {
        let pair = try backend.pair(client: Fixtures.clientConfig(), server: Fixtures.serverConfig())
        #expect(pair.handshake())
        #expect(try pair.server.shutdown() == .awaitingPeer)
        pair.transfer(from: pair.server, to: pair.client)
        #expect(try pair.client.read(maximumCount: 100) == nil)  // nil: closed by close_notify
        #expect(try pair.client.shutdown() == .complete)
        pair.transfer(from: pair.client, to: pair.server)
        #expect(try pair.server.shutdown() == .complete)
        #expect(throws: TLSError(.closed)) { try pair.server.write(Array("late".utf8)) }
    }
}
