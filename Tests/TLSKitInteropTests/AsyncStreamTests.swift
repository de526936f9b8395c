import Foundation
import TLSKit
import TLSKitIO
import TLSKitTestSupport
import Testing

/// async/await streams: against openssl s_server, between TLSKit peers, and cancellation.
@Suite("async/await streams", .serialized)
struct AsyncStreamTests {
    @Test(arguments: TestBackends.all)
    func asyncClientAgainstSServer(backend: BackendUnderTest) async throws {
        let pki = InteropPKI.shared
        let peer = try PeerProcess(
            "openssl", ["s_server", "-accept", "127.0.0.1:0", "-cert", pki.ecdsa.cert, "-key", pki.ecdsa.key, "-www", "-naccept", "1"])
        let port = try #require(peer.waitFor { peer.acceptedPort() })
        let context = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let stream = try await TLSStream.connect(host: "127.0.0.1", port: port, context: context, serverName: try TLSServerName("localhost"))
        try await stream.write("GET / HTTP/1.0\r\n\r\n")
        var response: [UInt8] = []
        while let chunk = try await stream.read() { response += chunk }
        #expect(String(decoding: response, as: UTF8.self).hasPrefix("HTTP/1.0 200 ok"))
        #expect(await stream.connectionInfo?.peerVerification == .verified)
        await stream.close()
        #expect(stream.isClosed)
        peer.finish()
    }

    @Test(arguments: TestBackends.allPairs)
    func asyncEchoServerAndClient(pair backends: BackendPair) async throws {
        let pki = InteropPKI.shared
        let serverContext = try backends.server.make().makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let listener = try TLSStreamListener(host: "127.0.0.1", port: 0, context: serverContext)
        let server = Task {
            for try await connection in listener.connections {
                while let chunk = try await connection.read() { try await connection.write(chunk) }
                await connection.close()
                break
            }
        }
        let client = try backends.client.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let stream = try await TLSStream.connect(host: "127.0.0.1", port: listener.port, context: client, serverName: try TLSServerName("localhost"))
        for message in ["one", "two", "three"] {
            try await stream.write(message)
            #expect(try await stream.read() == Array(message.utf8))
        }
        await stream.close()
        try await server.value
        listener.close()
    }

    @Test(arguments: TestBackends.all)
    func cancellingAReadClosesTheConnection(backend: BackendUnderTest) async throws {
        let pki = InteropPKI.shared
        let serverContext = try backend.make().makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let listener = try TLSStreamListener(host: "127.0.0.1", port: 0, context: serverContext)
        let silent = Task {
            let connection = try await listener.accept()
            try await connection.handshake()
            return connection  // never writes
        }
        let client = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let stream = try await TLSStream.connect(host: "127.0.0.1", port: listener.port, context: client, serverName: try TLSServerName("localhost"))
        let reader = Task { try await stream.read() }
        try await Task.sleep(for: .milliseconds(100))  // let the read block in recv()
        let started = ContinuousClock.now
        reader.cancel()
        let outcome = await reader.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        // Woken, not timed out (30 s); a loaded parallel run can delay a task's resumption by seconds.
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(stream.isClosed)  // the descriptor is released
        await (try? silent.value)?.close()
        listener.close()
    }

    /// A pending accept blocks a thread. It must be one of the listener's own, never one of
    /// `DispatchQueue.global()`'s, which on Linux also runs Swift's tasks with about one thread
    /// per core: a few servers waiting for clients would starve every task in the process.
    /// With the accepts on that queue, this took 14.7 s (libdispatch adds about one thread a
    /// second); with the listener's own queue, 0.3 s. 8 s leaves room for a loaded run.
    @Test(arguments: TestBackends.all)
    func pendingAcceptsDoNotStarveOtherTasks(backend: BackendUnderTest) async throws {
        let pki = InteropPKI.shared
        let serverContext = try backend.make().makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let idle = try (0..<16).map { _ in
            try TLSStreamListener(host: "127.0.0.1", port: 0, context: serverContext)
        }
        let waiting = idle.map { listener in Task { try? await listener.accept() } }
        defer {
            for listener in idle { listener.close() }
            for task in waiting { task.cancel() }
        }
        let started = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(200))  // let every accept block
        let listener = try TLSStreamListener(host: "127.0.0.1", port: 0, context: serverContext)
        defer { listener.close() }
        let client = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let server = Task {
            let connection = try await listener.accept()
            if let chunk = try await connection.read() { try await connection.write(chunk) }
            await connection.close()
        }
        let stream = try await TLSStream.connect(host: "127.0.0.1", port: listener.port, context: client, serverName: try TLSServerName("localhost"))
        try await stream.write("ping")
        #expect(try await stream.read() == Array("ping".utf8))
        await stream.close()
        try await server.value
        let elapsed = ContinuousClock.now - started
        #expect(elapsed < .seconds(8), "took \(elapsed): the pending accepts held the threads that run tasks")
    }
}
