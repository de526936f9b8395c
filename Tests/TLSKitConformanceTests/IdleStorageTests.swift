import TLSKit
import TLSKitTestSupport
import Testing

/// An idle connection holds no buffers: each backend's queues (received bytes not yet read
/// by the engine, records not yet drained, plaintext held back) free their storage when
/// empty. Thousands of idle connections on a server each paid for the largest flight they
/// had ever queued (about 1.4 KB with OpenSSL's memory BIOs, 1.6 KB with GnuTLS's queues).
@Suite("Idle storage")
struct IdleStorageTests {
    private func storage(_ connection: any TLSConnection) throws -> Int {
        try #require(connection as? any TLSQueueStorageReporting).queueStorageByteCount
    }

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func queuesHoldNothingAfterAnExchange(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        var client = Fixtures.clientConfig()
        client.minimumVersion = version
        client.maximumVersion = version
        let pair = try backend.pair(client: client, server: Fixtures.serverConfig())
        #expect(pair.handshake())
        // (A TLS 1.3 client may still hold the server's tickets, unread, until it reads.)
        #expect(try storage(pair.server) == 0)
        let request = [UInt8](repeating: 0x61, count: 40_000)  // several records
        #expect(try pair.send(request, from: pair.client) == request)
        #expect(try pair.send(Array("ok".utf8), from: pair.server) == Array("ok".utf8))
        #expect(try storage(pair.client) == 0)
        #expect(try storage(pair.server) == 0)
    }

    @Test(arguments: TestBackends.all)
    func aPartlyDrainedQueueKeepsTheRestAndFreesItOnceEmpty(backend: BackendUnderTest) throws {
        let pair = try backend.pair(client: Fixtures.clientConfig(), server: Fixtures.serverConfig())
        #expect(pair.handshake())
        let message = [UInt8](repeating: 0x62, count: 1_000)
        try pair.server.write(message)
        #expect(try storage(pair.server) > 1_000)

        var first = [UInt8](repeating: 0, count: 10)
        let drained = first.withUnsafeMutableBytes { pair.server.drainOutput(into: $0) }
        #expect(drained == 10)
        #expect(try storage(pair.server) > 0)
        let rest = pair.server.drainOutput()
        #expect(try storage(pair.server) == 0)

        // Received bytes wait in the client's input queue until it reads them.
        try pair.client.receive(first + rest)
        #expect(try storage(pair.client) > 0)
        #expect(try pair.readAll(pair.client) == message)
        #expect(try storage(pair.client) == 0)
    }
}
