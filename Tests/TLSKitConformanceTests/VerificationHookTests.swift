import SwiftASN1
import Synchronization
import TLSKit
import TLSKitTestSupport
import Testing
import X509

/// The peer-verification hook: runs after the backend's own checks, can only add to them.
@Suite("Verification hook")
struct VerificationHookTests {
    final class Seen: Sendable {
        let requests = Mutex<[TLSPeerVerificationRequest]>([])
        func record(_ r: TLSPeerVerificationRequest) { requests.withLock { $0.append(r) } }
        var all: [TLSPeerVerificationRequest] { requests.withLock { $0 } }
    }

    @Test(arguments: TestBackends.all)
    func clientHookSeesTheVerifiedChainAndCanAccept(backend: BackendUnderTest) throws {
        let seen = Seen()
        let hooks = TLSContextHooks(verifyPeer: { request in
            seen.record(request)
            return .accept
        })
        var client = Fixtures.clientConfig()
        client.applicationProtocols = [.http2]
        var server = Fixtures.serverConfig()
        server.applicationProtocols = [.http2]
        let b = try backend.make()
        let pair = try ConnectionPair(client: b.makeClientContext(client, hooks: hooks), server: b.makeServerContext(server))
        #expect(pair.handshake())
        let request = try #require(seen.all.first)
        #expect(seen.all.count == 1)
        #expect(request.side == .client)
        #expect(request.peerCertificates.first == Fixtures.server.certificateDER)
        #expect(request.serverName == "localhost")
        #expect(request.applicationProtocol == .http2)
    }

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func clientHookRejectionAbortsTheHandshake(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        let hooks = TLSContextHooks(verifyPeer: { _ in .reject("certificate is not pinned") })
        var client = Fixtures.clientConfig()
        client.maximumVersion = version
        let b = try backend.make()
        let pair = try ConnectionPair(client: b.makeClientContext(client, hooks: hooks), server: b.makeServerContext(Fixtures.serverConfig()))
        #expect(!pair.handshake())
        let error = try #require(pair.clientError)
        #expect(error.code == .certificateVerification)
        #expect(error.verificationFailure?.reason == .rejectedByHook)
        #expect(error.message.contains("certificate is not pinned"))
        #expect(error.verificationFailure?.peerCertificates.first == Fixtures.server.certificateDER)
        #expect(pair.serverError != nil)  // the server was told with an alert
        #expect(pair.client.connectionInfo == nil)
    }

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func serverHookIdentifiesClientsBySubject(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        let hooks = TLSContextHooks(verifyPeer: { request in
            guard let leaf = try? Certificate(derEncoded: request.peerCertificates[0]) else { return .reject("unparsable") }
            return leaf.subject.description.contains("CN=client-1") ? .accept : .reject("only client-1 may connect")
        })
        var server = Fixtures.serverConfig()
        server.trustStore = Fixtures.root.trustStore
        let b = try backend.make()
        let serverContext = try b.makeServerContext(server, hooks: hooks)

        var allowed = Fixtures.clientConfig()
        allowed.certificateChain = Fixtures.client.signingChain
        allowed.maximumVersion = version
        let good = try ConnectionPair(client: b.makeClientContext(allowed), server: serverContext)
        #expect(good.handshake())
        #expect(try good.send(Array("hi".utf8), from: good.client) == Array("hi".utf8))

        let other = try Fixtures.root.issue(commonName: "client-2", dnsNames: [], ipAddresses: [], usage: .client)
        var denied = Fixtures.clientConfig()
        denied.certificateChain = other.signingChain
        denied.maximumVersion = version
        let bad = try ConnectionPair(client: b.makeClientContext(denied), server: serverContext)
        #expect(!bad.handshake())
        let error = try #require(bad.serverError)
        #expect(error.verificationFailure?.reason == .rejectedByHook)
        #expect(error.message.contains("only client-1 may connect"))
        #expect(error.verificationFailure?.peerCertificates.first == other.certificateDER)
        if bad.clientError == nil { _ = try? bad.readAll(bad.client) }  // TLS 1.3: learnt on the next read
        #expect(bad.clientError?.code == .alertReceived)
    }

    @Test(arguments: TestBackends.all)
    func hookNeverRunsWhenTheBackendRejects(backend: BackendUnderTest) throws {
        let seen = Seen()
        let hooks = TLSContextHooks(verifyPeer: { request in
            seen.record(request)
            return .accept  // must not be able to rescue a rejected chain
        })
        let b = try backend.make()
        for (config, name) in [(Fixtures.clientConfig(), "wrong.example"), (Fixtures.clientConfig(trusting: Fixtures.otherRoot), "localhost")] {
            let pair = try ConnectionPair(
                client: b.makeClientContext(config, hooks: hooks), server: b.makeServerContext(Fixtures.serverConfig()),
                serverName: name)
            #expect(!pair.handshake())
            #expect(pair.clientError?.code == .certificateVerification)
            // The rejected chain travels in the error.
            #expect(pair.clientError?.verificationFailure?.peerCertificates.first == Fixtures.server.certificateDER)
        }
        #expect(seen.all.isEmpty)
    }
}
