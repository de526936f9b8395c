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

    /// The records a TLS 1.3 server sends in a handshake and one reply, with
    /// `sessionTicketCount` set.
    static func serverRecords(_ backend: BackendUnderTest, tickets: Int) throws -> Int {
        var serverConfig = Fixtures.serverConfig()
        serverConfig.sessionTicketCount = tickets
        var clientConfig = Fixtures.clientConfig()
        clientConfig.minimumVersion = .tls1_3
        let b = try backend.make()
        let pair = try ConnectionPair(client: b.makeClientContext(clientConfig), server: b.makeServerContext(serverConfig))
        var records = 0
        // The server, not the pair: a closure the pair keeps must not keep the pair (a cycle
        // that LeakSanitizer reports).
        pair.tap = { [server = pair.server] from, bytes in
            guard from === server else { return }
            var offset = 0
            while offset + 5 <= bytes.count {
                records += 1
                offset += 5 + Int(bytes[offset + 3]) << 8 + Int(bytes[offset + 4])
            }
        }
        #expect(pair.handshake())
        #expect(try pair.send(Array("x".utf8), from: pair.server) == Array("x".utf8))
        return records
    }

    /// Each ticket is one record after the handshake: with n tickets the server sends n
    /// more records than with none, on both backends, and a client given none cannot resume.
    @Test(arguments: TestBackends.all)
    func theServerSendsAsManyTicketsAsConfigured(backend: BackendUnderTest) throws {
        let none = try Self.serverRecords(backend, tickets: 0)
        for count in [1, 2, 5, 16] {
            #expect(try Self.serverRecords(backend, tickets: count) == none + count, "\(backend) \(count) tickets")
        }
        let b = try backend.make()
        var noTickets = Fixtures.serverConfig()
        noTickets.sessionTicketCount = 0
        let server = try b.makeServerContext(noTickets)
        var tls13 = Fixtures.clientConfig()
        tls13.minimumVersion = .tls1_3
        let client = try b.makeClientContext(tls13)
        _ = try Self.connect(client, server)
        #expect(try Self.connect(client, server)?.resumed == false)
    }

    @Test(arguments: [-1, 17])
    func aTicketCountOutOfRangeIsRefused(count: Int) throws {
        var config = Fixtures.serverConfig()
        config.sessionTicketCount = count
        #expect {
            try config.validateBackendNeutral()
        } throws: { error in
            (error as? TLSError)?.message.contains("sessionTicketCount") == true
        }
    }
}
