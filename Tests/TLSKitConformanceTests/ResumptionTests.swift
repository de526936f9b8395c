import TLSKit
import TLSKitTestSupport
import Testing

/// Session resumption: the client context keeps tickets by server name.
@Suite("Session resumption")
struct ResumptionTests {
    /// Handshakes, reads what the server sent after it (tickets), closes.
    static func connect(_ client: any TLSClientContext, _ server: any TLSServerContext, name: String = "localhost") throws -> TLSConnectionInfo? {
        let pair = try ConnectionPair(client: client, server: server, serverName: name)
        guard pair.handshake() else { return nil }
        #expect(try pair.send(Array("x".utf8), from: pair.server) == Array("x".utf8))  // moves the tickets too
        _ = try pair.client.shutdown()
        pair.transfer(from: pair.client, to: pair.server)
        return pair.client.connectionInfo
    }

    @Test(arguments: TestBackends.allPairs, [TLSProtocolVersion.tls1_2, .tls1_3])
    func secondConnectionResumes(pair backends: BackendPair, version: TLSProtocolVersion) throws {
        var config = Fixtures.clientConfig()
        config.maximumVersion = version
        config.minimumVersion = version
        let client = try backends.client.make().makeClientContext(config)
        let server = try backends.server.make().makeServerContext(Fixtures.serverConfig())
        let first = try #require(try Self.connect(client, server))
        #expect(first.resumed == false)
        let second = try #require(try Self.connect(client, server))
        #expect(second.resumed == true, "\(backends) \(version)")
        #expect(second.peerVerification == .verified)
        let third = try #require(try Self.connect(client, server))
        // A GnuTLS server issues TLS 1.3 tickets after full handshakes only, so that no
        // ticket outlives the verification it stands for (docs/BackendDifferences.md).
        let renews = !(backends.server.name == "gnutls" && version == .tls1_3)
        #expect(third.resumed == renews, "a resumed connection brings a fresh ticket, except from a GnuTLS TLS 1.3 server")
    }

    @Test(arguments: TestBackends.all)
    func ticketsAreKeptPerServerNameAndCanBeTurnedOff(backend: BackendUnderTest) throws {
        let b = try backend.make()
        let server = try b.makeServerContext(Fixtures.serverConfig())
        let client = try b.makeClientContext(Fixtures.clientConfig())
        _ = try Self.connect(client, server, name: "localhost")
        // A ticket for localhost is not offered to 127.0.0.1.
        #expect(try Self.connect(client, server, name: "127.0.0.1")?.resumed == false)

        var off = Fixtures.clientConfig()
        off.resumesSessions = false
        let noCache = try b.makeClientContext(off)
        _ = try Self.connect(noCache, server)
        #expect(try Self.connect(noCache, server)?.resumed == false)
    }
}
