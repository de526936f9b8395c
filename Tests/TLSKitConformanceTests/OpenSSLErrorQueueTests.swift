import TLSKit
import TLSKitOpenSSL
import TLSKitTestSupport
import Testing

/// OpenSSL's error queue is per thread and shared with every other user of libcrypto on it.
/// `SSL_get_error` reads it, so an entry left by unrelated code (a failed file open) would turn
/// a read that only needs more input into a fatal `SSL_ERROR_SSL`: the connection clears
/// stale entries before each call (looking first, so the common empty queue costs little).
@Suite("OpenSSL error queue")
struct OpenSSLErrorQueueTests {
    @Test(arguments: [TLSProtocolVersion.tls1_2, .tls1_3])
    func aStaleEntryOnTheThreadDoesNotFailTheConnection(version: TLSProtocolVersion) throws {
        var client = Fixtures.clientConfig()
        client.minimumVersion = version
        client.maximumVersion = version
        let pair = try #require(TestBackends.all.first { $0.name == "openssl" }).pair(client: client, server: Fixtures.serverConfig())
        try #require(pair.handshake())
        _ = try pair.readAll(pair.client)

        OpenSSLBackend.leaveStaleErrorForTesting()
        #expect(try pair.server.read(maximumCount: 100) == [], "no input yet: needs input, not a failure")
        OpenSSLBackend.leaveStaleErrorForTesting()
        try pair.client.write(Array("ping".utf8))
        pair.transfer(from: pair.client, to: pair.server)
        OpenSSLBackend.leaveStaleErrorForTesting()
        #expect(try pair.server.read(maximumCount: 100) == Array("ping".utf8))
    }
}
