import SwiftASN1
import TLSKit
import TLSKitTestSupport
import Testing
import X509

@Suite("Mutual TLS")
struct MutualTLSTests {
    static func mtlsServer(_ mode: TLSServerConfiguration.ClientAuthentication? = nil) -> TLSServerConfiguration {
        var server = Fixtures.serverConfig()
        server.trustStore = Fixtures.root.trustStore
        server.clientAuthentication = mode
        return server
    }

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func serverSeesAndVerifiesTheClientCertificate(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        var client = Fixtures.clientConfig()
        client.certificateChain = Fixtures.client.signingChain
        client.maximumVersion = version
        let pair = try backend.pair(client: client, server: Self.mtlsServer())
        #expect(pair.handshake(), "\(String(describing: pair.serverError))")
        let info = try #require(pair.server.connectionInfo)
        #expect(info.peerVerification == .verified)
        #expect(info.peerLeafCertificate == Fixtures.client.certificateDER)
        // Exactly the configured chain is presented (no root added from a trust store).
        #expect(info.peerCertificates.count == 1)
        #expect(info.verifiedChain.count == 2)
        let parsed = try Certificate(derEncoded: try #require(info.peerLeafCertificate))
        #expect(parsed.subject.description.contains("client-1"))
        #expect(try pair.send(Array("hi".utf8), from: pair.client) == Array("hi".utf8))
    }

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func missingClientCertificateIsRejectedWhenRequired(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        var client = Fixtures.clientConfig()
        client.maximumVersion = version
        let pair = try backend.pair(client: client, server: Self.mtlsServer(.required))
        #expect(!pair.handshake())
        let serverError = try #require(pair.serverError)
        #expect(serverError.code == .certificateVerification)
        #expect(serverError.verificationFailure?.reason == .noCertificate)
        // TLS 1.3 clients finish first and learn of the rejection on their next read.
        if pair.clientError == nil {
            #expect(version == .tls1_3)
            #expect(throws: TLSError(.alertReceived)) { _ = try pair.readAll(pair.client) }
        }
        let clientError = try #require(pair.clientError)
        #expect(clientError.code == .alertReceived)
    }

    @Test(arguments: TestBackends.all)
    func optionalClientAuthenticationAcceptsAnonymousClients(backend: BackendUnderTest) throws {
        let pair = try backend.pair(client: Fixtures.clientConfig(), server: Self.mtlsServer(.optional))
        #expect(pair.handshake())
        #expect(pair.server.connectionInfo?.peerVerification == .noCertificate)
    }

    @Test(arguments: TestBackends.all)
    func clientCertificateFromAnUntrustedCAIsRejected(backend: BackendUnderTest) throws {
        let stranger = try Fixtures.otherRoot.issue(commonName: "mallory", dnsNames: [], ipAddresses: [], usage: .client)
        var client = Fixtures.clientConfig()
        client.certificateChain = stranger.signingChain
        client.maximumVersion = .tls1_2
        let pair = try backend.pair(client: client, server: Self.mtlsServer())
        #expect(!pair.handshake())
        #expect(pair.serverError?.code == .certificateVerification)
        #expect(pair.serverError?.verificationFailure?.reason == .unknownIssuer)
        #expect(pair.clientError?.code == .alertReceived)
    }
}
