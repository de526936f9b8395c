import TLSKit
import TLSKitTestSupport
import Testing

/// Every backend's client against every other backend's server, in memory: TLS 1.2 and
/// 1.3, RSA and ECDSA, with and without client certificates.
@Suite("Cross-backend matrix")
struct CrossBackendTests {
    @Test(arguments: TestBackends.crossPairs, [TLSProtocolVersion.tls1_2, .tls1_3])
    func handshakeAndDataAcrossBackends(pair backends: BackendPair, version: TLSProtocolVersion) throws {
        let client = try backends.client.make()
        let server = try backends.server.make()
        for keyType in TestPKI.KeyType.allCases {
            for mutual in [false, true] {
                var clientConfig = Fixtures.clientConfig(trusting: Fixtures.rootFor(keyType))
                clientConfig.maximumVersion = version
                clientConfig.minimumVersion = version
                clientConfig.applicationProtocols = [.http2, .http1_1]
                var serverConfig = Fixtures.serverConfig(Fixtures.serverIdentity(keyType))
                serverConfig.applicationProtocols = [.http1_1]
                if mutual {
                    clientConfig.certificateChain = Fixtures.client.signingChain
                    serverConfig.trustStore = Fixtures.root.trustStore
                }
                let pair = try ConnectionPair(
                    client: client.makeClientContext(clientConfig), server: server.makeServerContext(serverConfig))
                let label = "\(backends) \(version) \(keyType) mutual=\(mutual)"
                #expect(pair.handshake(), "\(label): \(String(describing: pair.clientError)) / \(String(describing: pair.serverError))")
                let info = try #require(pair.client.connectionInfo, "\(label)")
                let serverInfo = try #require(pair.server.connectionInfo, "\(label)")
                #expect(info.protocolVersion == version, "\(label)")
                #expect(info.cipherSuite == serverInfo.cipherSuite, "\(label)")
                #expect(info.applicationProtocol == .http1_1, "\(label)")
                #expect(info.peerLeafCertificate == Fixtures.serverIdentity(keyType).certificateDER, "\(label)")
                #expect(serverInfo.peerVerification == (mutual ? .verified : .noCertificate), "\(label)")
                #expect(try pair.send(Array("across".utf8), from: pair.client) == Array("across".utf8), "\(label)")
                #expect(try pair.send(Array("back".utf8), from: pair.server) == Array("back".utf8), "\(label)")
                #expect(try pair.client.shutdown() == .awaitingPeer, "\(label)")
                pair.transfer(from: pair.client, to: pair.server)
                #expect(try pair.server.read(maximumCount: 10) == nil, "\(label)")
                #expect(try pair.server.shutdown() == .complete, "\(label)")
                pair.transfer(from: pair.server, to: pair.client)
                #expect(try pair.client.shutdown() == .complete, "\(label)")
            }
        }
    }

    @Test(arguments: TestBackends.crossPairs)
    func refusalsAcrossBackends(pair backends: BackendPair) throws {
        let client = try backends.client.make()
        let server = try backends.server.make()
        // Wrong name.
        let wrong = try ConnectionPair(
            client: client.makeClientContext(Fixtures.clientConfig()), server: server.makeServerContext(Fixtures.serverConfig()),
            serverName: "wrong.example")
        #expect(!wrong.handshake())
        #expect(wrong.clientError?.verificationFailure?.reason == .hostnameMismatch)
        // The server fails too. Which error it reports depends on the pair: an OpenSSL 3.0
        // client sends this TLS 1.3 alert before switching to handshake keys, and GnuTLS
        // then reports a record it cannot decrypt (see docs/BackendDifferences.md).
        #expect(wrong.serverError != nil)
        #expect([.alertReceived, .protocolViolation].contains(wrong.serverError?.code))

        // Client certificate required but missing.
        var mtls = Fixtures.serverConfig()
        mtls.trustStore = Fixtures.root.trustStore
        var noCert = Fixtures.clientConfig()
        noCert.maximumVersion = .tls1_2
        let missing = try ConnectionPair(client: client.makeClientContext(noCert), server: server.makeServerContext(mtls))
        #expect(!missing.handshake())
        #expect(missing.serverError?.verificationFailure?.reason == .noCertificate)
        #expect(missing.clientError?.code == .alertReceived)

        // No common ALPN protocol.
        var alpnClient = Fixtures.clientConfig()
        alpnClient.applicationProtocols = ["imap"]
        var alpnServer = Fixtures.serverConfig()
        alpnServer.applicationProtocols = [.http2]
        let alpn = try ConnectionPair(client: client.makeClientContext(alpnClient), server: server.makeServerContext(alpnServer))
        #expect(!alpn.handshake())
        #expect(alpn.clientError?.alert == .noApplicationProtocol)
    }
}
