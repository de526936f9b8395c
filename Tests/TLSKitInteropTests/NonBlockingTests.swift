import Foundation
import TLSKit
import TLSKitIO
import TLSKitTestSupport
import Testing

/// TLSSocket in non-blocking mode, driven by a poll(2) loop, against openssl s_server.
/// (Descriptor leaks over 1,000 connections are counted in IntegrationTests/cli.sh, in
/// processes of their own, where no parallel test opens descriptors.)
@Suite("Non-blocking sockets", .serialized)
struct NonBlockingTests {
    /// Waits for the readiness a would-block result names (bounded).
    static func wait(_ fd: Int32, for result: TLSIOResult) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(result == .wouldBlockOnWrite ? POLLOUT : POLLIN), revents: 0)
        return poll(&pfd, 1, 5_000) == 1
    }

    @Test(arguments: TestBackends.all)
    func pollLoopAgainstSServer(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let peer = try PeerProcess(
            "openssl", ["s_server", "-accept", "127.0.0.1:0", "-cert", pki.ecdsa.cert, "-key", pki.ecdsa.key, "-www", "-naccept", "1"])
        let port = try #require(peer.waitFor { peer.acceptedPort() })
        let fd = try TLSSocket.openTCP(host: "127.0.0.1", port: port)
        let context = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let socket = TLSSocket(fileDescriptor: fd, connection: try context.makeConnection(serverName: try TLSServerName("localhost")))
        socket.setNonBlocking(true)
        var waits = 0

        var result = try socket.tryHandshake()
        while result != .completed(0) {
            waits += 1
            try #require(Self.wait(fd, for: result) && waits < 1000)
            result = try socket.tryHandshake()
        }
        #expect(socket.connectionInfo?.peerVerification == .verified)
        // Nothing to read until we ask: the socket says so instead of blocking.
        var idle = [UInt8](repeating: 0, count: 64)
        #expect(try idle.withUnsafeMutableBytes { try socket.tryReceive(into: $0) } == .wouldBlockOnRead)

        let request = Array("GET / HTTP/1.0\r\n\r\n".utf8)
        var sent = try request.withUnsafeBytes { try socket.trySend($0) }
        while sent == .wouldBlockOnWrite {
            try #require(Self.wait(fd, for: sent))
            sent = try request.withUnsafeBytes { try socket.trySend($0) }
        }
        #expect(sent == .completed(request.count))
        while try socket.tryFlush() != .completed(0) { try #require(Self.wait(fd, for: .wouldBlockOnWrite)) }

        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        loop: while true {
            let r = try buffer.withUnsafeMutableBytes { try socket.tryReceive(into: $0) }
            switch r {
            case .completed(let n): response += buffer.prefix(n)
            case .closed: break loop
            case .wouldBlockOnRead, .wouldBlockOnWrite: try #require(Self.wait(fd, for: r))
            }
        }
        #expect(String(decoding: response, as: UTF8.self).hasPrefix("HTTP/1.0 200 ok"))
        socket.close()
        peer.finish()
    }

    /// trySend takes at most 64 KiB a call (like write(2)) and nothing while records wait,
    /// so what the socket buffers is bounded whatever the caller hands it.
    @Test(arguments: TestBackends.all)
    func trySendTakesAtMost64KiBACall(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let peer = try PeerProcess(
            "openssl", ["s_server", "-accept", "127.0.0.1:0", "-cert", pki.ecdsa.cert, "-key", pki.ecdsa.key, "-www", "-naccept", "1"])
        let port = try #require(peer.waitFor { peer.acceptedPort() })
        let fd = try TLSSocket.openTCP(host: "127.0.0.1", port: port)
        let context = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let socket = TLSSocket(fileDescriptor: fd, connection: try context.makeConnection(serverName: try TLSServerName("localhost")))
        try socket.handshake()
        socket.setNonBlocking(true)
        let big = [UInt8](repeating: 0x61, count: 1 << 20)
        var accepted = 0
        var completions = 0
        // Until the kernel pushes back, or 1 MiB has gone: every call takes at most 64 KiB.
        calls: for _ in 0..<32 {
            let result = try big.withUnsafeBytes { try socket.trySend(UnsafeRawBufferPointer(rebasing: $0[accepted...])) }
            switch result {
            case .completed(let n):
                #expect(n >= 1 && n <= 65_536, "trySend accepted \(n) bytes in one call")
                accepted += n
                completions += 1
                if accepted == big.count { break calls }
            case .wouldBlockOnWrite, .wouldBlockOnRead, .closed:
                break calls
            }
        }
        #expect(completions >= 1)
        #expect(accepted <= completions * 65_536)
        socket.close()
        peer.finish()
    }
}
