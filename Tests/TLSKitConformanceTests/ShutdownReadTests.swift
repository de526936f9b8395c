import TLSKit
import TLSKitTestSupport
import Testing

/// Data the peer sent before our close_notify can still be read after shutdown(), in order
/// and without a hole, on every backend pair. (GnuTLS's shutdown() used to pull the rest of
/// the stream out of the engine and drop it; found by the gnutls-session fuzz target, seed
/// FuzzTesting/Corpora/gnutls-session/regression-shutdown-drops-unread-data.)
@Suite("Reading after shutdown")
struct ShutdownReadTests {
    @Test(arguments: TestBackends.allPairs, [TLSProtocolVersion.tls1_2, .tls1_3])
    func dataBeforeTheShutdownIsReadWithoutAHole(pair backends: BackendPair, version: TLSProtocolVersion) throws {
        var client = Fixtures.clientConfig()
        client.minimumVersion = version
        client.maximumVersion = version
        let pair = try ConnectionPair(
            client: backends.client.make().makeClientContext(client),
            server: backends.server.make().makeServerContext(Fixtures.serverConfig()))
        #expect(pair.handshake())
        _ = try pair.send(Array("settle".utf8), from: pair.server)
        try pair.client.write(Array("abcdef".utf8))
        try pair.client.write(Array("ghij".utf8))
        pair.transfer(from: pair.client, to: pair.server)

        var got: [UInt8] = []
        var small = [UInt8](repeating: 0, count: 2)
        if case .bytes(let n) = try small.withUnsafeMutableBytes({ try pair.server.read(into: $0) }) { got += small.prefix(n) }
        #expect(got == Array("ab".utf8), "\(backends) \(version)")
        _ = try pair.server.shutdown()
        reading: while true {
            switch try small.withUnsafeMutableBytes({ try pair.server.read(into: $0) }) {
            case .bytes(let n): got += small.prefix(n)
            case .closed, .needsInput: break reading
            }
        }
        #expect(String(decoding: got, as: UTF8.self) == "abcdefghij", "\(backends) \(version)")
    }
}
