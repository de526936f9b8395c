import TLSKit
import TLSKitTestSupport
import Testing

/// TLS 1.3 KeyUpdate: either side can start one, and a request for ours is answered before
/// our next application data (RFC 8446 §4.6.3), on every backend pair.
@Suite("Key updates")
struct KeyUpdateTests {
    static func pair(_ backends: BackendPair, version: TLSProtocolVersion = .tls1_3) throws -> ConnectionPair {
        var client = Fixtures.clientConfig()
        client.maximumVersion = version
        client.minimumVersion = version
        let pair = try ConnectionPair(
            client: backends.client.make().makeClientContext(client),
            server: backends.server.make().makeServerContext(Fixtures.serverConfig()))
        #expect(pair.handshake())
        // Let tickets and other post-handshake messages settle first.
        _ = try pair.send(Array("settle".utf8), from: pair.server)
        return pair
    }

    /// The TLS records in `bytes` (5-byte headers), as content types.
    static func records(_ bytes: [UInt8]) -> [UInt8] {
        var types: [UInt8] = []
        var offset = 0
        while offset + 5 <= bytes.count {
            types.append(bytes[offset])
            offset += 5 + (Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4]))
        }
        return offset == bytes.count ? types : []
    }

    @Test(arguments: TestBackends.allPairs)
    func anUpdateRequestedIsAnsweredBeforeTheNextData(pair backends: BackendPair) throws {
        for (initiator, label) in [(\ConnectionPair.client, "client asks"), (\ConnectionPair.server, "server asks")] {
            let pair = try Self.pair(backends)
            let asker = pair[keyPath: initiator]
            let answerer = asker === pair.client ? pair.server : pair.client
            // Without a request, one write is one record.
            try answerer.write(Array("x".utf8))
            let plain = answerer.drainOutput()
            #expect(Self.records(plain).count == 1, "\(backends), \(label)")
            try asker.receive(plain)
            #expect(try asker.read(maximumCount: 1024) == Array("x".utf8))

            try asker.updateKeys(requestingPeerUpdate: true)
            #expect(asker.pendingOutputByteCount > 0, "\(backends), \(label): the KeyUpdate is queued")
            pair.transfer(from: asker, to: answerer)
            #expect(try answerer.read(maximumCount: 1024) == [], "\(backends), \(label): no application data")
            // The next write carries the answering KeyUpdate first, then the data.
            try answerer.write(Array("y".utf8))
            let answered = answerer.drainOutput()
            #expect(Self.records(answered).count == 2, "\(backends), \(label): KeyUpdate + data")
            try asker.receive(answered)
            #expect(try asker.read(maximumCount: 1024) == Array("y".utf8), "\(backends), \(label)")
            // Both directions still work with the new keys.
            #expect(try pair.send(Array("after".utf8), from: pair.client) == Array("after".utf8), "\(backends), \(label)")
            #expect(try pair.send(Array("back".utf8), from: pair.server) == Array("back".utf8), "\(backends), \(label)")
        }
    }

    @Test(arguments: TestBackends.all)
    func tls12HasNoKeyUpdates(backend: BackendUnderTest) throws {
        let pair = try Self.pair(BackendPair(client: backend, server: backend), version: .tls1_2)
        #expect(throws: TLSError(.invalidState)) { try pair.client.updateKeys(requestingPeerUpdate: false) }
    }
}
