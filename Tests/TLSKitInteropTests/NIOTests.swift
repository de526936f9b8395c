import Foundation
import NIOCore
import NIOPosix
import NIOTLS
import Synchronization
import TLSKit
import TLSKitIO
import TLSKitNIO
import TLSKitTestSupport
import Testing

/// The SwiftNIO adapter against real peers: curl and openssl s_client to a NIO server,
/// a NIO client to openssl s_server.
@Suite("SwiftNIO adapter", .serialized)
struct NIOTests {
    /// Answers one HTTP/1.0 request, then closes (like s_server -www); records the ALPN event.
    final class HTTPResponder: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked: used on its channel's event loop only.
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private var request = ""
        let negotiated = Mutex<String?>(nil)

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted(let alpn) = event { negotiated.withLock { $0 = alpn ?? "(none)" } }
            context.fireUserInboundEventTriggered(event)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            request += buffer.readString(length: buffer.readableBytes) ?? ""
            guard request.contains("\r\n\r\n") else { return }
            let body = "hello from TLSKitNIO\n"
            let response = "HTTP/1.0 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: response))).whenComplete { _ in
                bound.value.close(promise: nil)
            }
        }
    }

    /// Collects everything read until the channel closes.
    final class Collector: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked: used on its channel's event loop only; `done` is a promise.
        typealias InboundIn = ByteBuffer
        private var bytes: [UInt8] = []
        let done: EventLoopPromise<[UInt8]>
        init(done: EventLoopPromise<[UInt8]>) { self.done = done }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
        }
        func channelInactive(context: ChannelHandlerContext) { done.succeed(bytes) }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            // With allowRemoteHalfClosure the channel stays open after the peer's end: close it.
            if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
        }
        func errorCaught(context: ChannelHandlerContext, error: Error) { done.fail(error) }
    }

    @Test(arguments: TestBackends.all)
    func nioServerServesCurlAndSClient(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        var config = TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain)
        config.applicationProtocols = [.http1_1]
        let context = try backend.make().makeServerContext(config)
        let responder = Mutex<[HTTPResponder]>([])
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let http = HTTPResponder()
                    responder.withLock { $0.append(http) }
                    try channel.pipeline.syncOperations.addHandler(TLSChannelHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(http)
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? server.close().wait() }
        let port = try #require(server.localAddress?.port)

        let curl = try PeerProcess(
            "curl",
            [
                "-sS", "--max-time", "10", "--cacert", pki.caFile, "--tlsv1.3", "--http1.1",
                "--resolve", "localhost:\(port):127.0.0.1", "https://localhost:\(port)/",
            ])
        #expect(curl.finish() == 0, "\(curl.standardError)")
        #expect(curl.standardOutput == "hello from TLSKitNIO\n")
        let alpn = responder.withLock { $0.first }?.negotiated.withLock { $0 }
        #expect(alpn == "http/1.1")

        let sClient = try PeerProcess(
            "openssl",
            [
                "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost", "-CAfile", pki.caFile,
                "-verify_return_error", "-tls1_2", "-brief", "-ign_eof",
            ],
            stdin: Data("GET / HTTP/1.0\r\n\r\n".utf8))
        sClient.finish()
        #expect(sClient.standardOutput.contains("hello from TLSKitNIO"), "\(sClient.standardOutput) \(sClient.standardError)")
        #expect(sClient.standardError.contains("Verification: OK"))
    }

    @Test(arguments: TestBackends.all, ["-tls1_2", "-tls1_3"])
    func nioClientAgainstSServer(backend: BackendUnderTest, version: String) throws {
        let pki = InteropPKI.shared
        let peer = try PeerProcess(
            "openssl", ["s_server", "-accept", "127.0.0.1:0", "-cert", pki.ecdsa.cert, "-key", pki.ecdsa.key, version, "-www", "-naccept", "1"])
        let port = try #require(peer.waitFor { peer.acceptedPort() })
        let context = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let done = group.next().makePromise(of: [UInt8].self)
        let channel = try ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSChannelHandler(context: context, serverName: "localhost"))
                    try channel.pipeline.syncOperations.addHandler(Collector(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: Int(port)).wait()
        // Written before the handshake completes: buffered, then sent.
        try channel.writeAndFlush(channel.allocator.buffer(string: "GET / HTTP/1.0\r\n\r\n")).wait()
        let response = String(decoding: try done.futureResult.wait(), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.0 200 ok"))
        #expect(response.contains(version == "-tls1_3" ? "TLSv1.3" : "TLSv1.2"))
        peer.finish()
    }

    @Test(arguments: TestBackends.all)
    func nioClientRejectsAnUntrustedServer(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let peer = try PeerProcess(
            "openssl", ["s_server", "-accept", "127.0.0.1:0", "-cert", pki.selfSigned.cert, "-key", pki.selfSigned.key, "-www", "-naccept", "1"])
        let port = try #require(peer.waitFor { peer.acceptedPort() })
        let context = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let done = group.next().makePromise(of: [UInt8].self)
        _ = try ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSChannelHandler(context: context, serverName: "localhost"))
                    try channel.pipeline.syncOperations.addHandler(Collector(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: Int(port)).wait()
        let error = #expect(throws: TLSError.self) { _ = try done.futureResult.wait() }
        #expect(error?.code == .certificateVerification)
        peer.finish(seconds: 5)
    }

    /// Records the first error that reaches the end of the pipeline.
    final class ErrorRecorder: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let error: EventLoopPromise<any Error>
        init(error: EventLoopPromise<any Error>) { self.error = error }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { self.error.succeed(error) }
    }

    /// Writes back what it reads.
    final class Echo: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.writeAndFlush(data, promise: nil) }
    }

    /// A client that connects and never speaks (slowloris) is cut off by the handshake time-out,
    /// with a `.timeout` error on the server side; a client that completes the handshake in
    /// time is not.
    @Test(arguments: TestBackends.all)
    func nioServerCutsOffASilentClient(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let context = try backend.make().makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let serverError = group.next().makePromise(of: (any Error).self)
        let server = try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSChannelHandler(context: context, handshakeTimeout: .milliseconds(300)))
                    try channel.pipeline.syncOperations.addHandler(ErrorRecorder(error: serverError))
                    try channel.pipeline.syncOperations.addHandler(Echo())
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? server.close().wait() }
        let port = try #require(server.localAddress?.port)

        // A plain TCP client that sends nothing; it gives up by itself after 10 s so that a
        // server without the time-out fails this test instead of hanging it.
        let closed = group.next().makePromise(of: [UInt8].self)
        let silent = try ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(done: closed)) }
            }
            .connect(host: "127.0.0.1", port: port).wait()
        let safetyNet = silent.eventLoop.scheduleTask(in: .seconds(10)) { silent.close(promise: nil) }
        let started = ContinuousClock.now
        #expect(try closed.futureResult.wait() == [], "the server closes without sending anything")
        safetyNet.cancel()
        #expect(ContinuousClock.now - started < .seconds(8), "closed by the server's time-out, not the client's safety net")
        let error = try #require(try serverError.futureResult.wait() as? TLSError)
        #expect(error.code == .timeout)
        #expect("\(error)".contains("handshakeTimeout"), "\(error)")

        // A client that completes the handshake in time keeps its connection past the deadline.
        let clientContext = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let socket = try TLSSocket.connect(
            host: "127.0.0.1", port: UInt16(port), context: clientContext,
            serverName: try TLSServerName("localhost"), timeout: .seconds(10))
        defer { socket.close() }
        try socket.handshake()
        Thread.sleep(forTimeInterval: 0.8)  // well past the 300 ms deadline, on purpose
        try socket.send("ping")
        #expect(try socket.receive() == Array("ping".utf8), "the established connection survived the deadline")
        try socket.shutdown(waitForPeer: false)
    }

    /// Answers "STOPTLS\n" by ending TLS (stopTLS), then speaks cleartext: "PLAIN OK\n" out,
    /// and records the cleartext that comes back.
    final class StopTLSResponder: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked: used on its channel's event loop only; `cleartext` is a promise.
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let tls: TLSChannelHandler
        let cleartext: EventLoopPromise<String>
        private var inTLS = true
        private var received = ""
        init(tls: TLSChannelHandler, cleartext: EventLoopPromise<String>) {
            self.tls = tls
            self.cleartext = cleartext
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            received += buffer.readString(length: buffer.readableBytes) ?? ""
            if inTLS, received == "STOPTLS\n" {
                inTLS = false
                received = ""
                let promise = context.eventLoop.makePromise(of: Void.self)
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                promise.futureResult.whenComplete { result in
                    switch result {
                    case .success:
                        let context = bound.value
                        context.writeAndFlush(self.wrapOutboundOut(context.channel.allocator.buffer(string: "PLAIN OK\n")), promise: nil)
                    case .failure(let error):
                        self.cleartext.fail(error)
                    }
                }
                tls.stopTLS(promise: promise)
            } else if !inTLS, received.hasSuffix("\n") {
                cleartext.succeed(received)
            }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { cleartext.fail(error) }
    }

    /// STARTTLS reversal over NIO: TLSSocket.unwrap() on the client (which is tested against
    /// openssl s_server elsewhere), TLSChannelHandler.stopTLS on the server; both sides go on in
    /// cleartext on the same TCP connection, and the server's first cleartext bytes, sent right
    /// behind its close_notify, are not lost.
    @Test(arguments: TestBackends.all)
    func nioStopTLSReturnsTheChannelToCleartext(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let context = try backend.make().makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let cleartext = group.next().makePromise(of: String.self)
        // A server that never returns to cleartext fails the test instead of hanging it.
        group.next().scheduleTask(in: .seconds(15)) { cleartext.fail(TLSError(.timeout, "no cleartext after stopTLS")) }
        let server = try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tls = try TLSChannelHandler(context: context)
                    try channel.pipeline.syncOperations.addHandler(tls)
                    try channel.pipeline.syncOperations.addHandler(StopTLSResponder(tls: tls, cleartext: cleartext))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? server.close().wait() }
        let port = try #require(server.localAddress?.port)

        let clientContext = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let socket = try TLSSocket.connect(
            host: "127.0.0.1", port: UInt16(port), context: clientContext,
            serverName: try TLSServerName("localhost"), timeout: .seconds(10))
        try socket.send("STOPTLS\n")
        let (fd, leftover) = try socket.unwrap()
        defer { close(fd) }
        var plain = leftover
        while !plain.contains(UInt8(ascii: "\n")) {
            var chunk = [UInt8](repeating: 0, count: 256)
            let n = read(fd, &chunk, chunk.count)
            guard n > 0 else { break }
            plain += chunk[0..<n]
        }
        #expect(String(decoding: plain, as: UTF8.self) == "PLAIN OK\n")
        #expect(write(fd, "bye\n", 4) == 4)
        #expect(try cleartext.futureResult.wait() == "bye\n")
    }

    /// Half-closure: the NIO client sends its request, closes its output (close_notify + TCP
    /// FIN), and still reads the whole answer, which the server sends only after seeing the end.
    @Test(arguments: TestBackends.all)
    func nioHalfClosureKeepsReading(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let listener = try TLSListener(
            host: "127.0.0.1", port: 0,
            context: try TestBackends.all[0].make().makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain)))
        let serverResult = Mutex<String>("")
        let serverThread = Thread {
            do {
                let peer = try listener.accept()
                var request: [UInt8] = []
                while let chunk = try peer.receive() { request += chunk }  // until close_notify
                try peer.send("got \(request.count) bytes\n")
                try peer.shutdown(waitForPeer: false)
                peer.close()
                serverResult.withLock { $0 = "ok" }
            } catch {
                serverResult.withLock { $0 = "\(error)" }
            }
        }
        serverThread.start()
        let clientContext = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let done = group.next().makePromise(of: [UInt8].self)
        let channel = try ClientBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSChannelHandler(context: clientContext, serverName: "localhost"))
                    try channel.pipeline.syncOperations.addHandler(Collector(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: Int(listener.port)).wait()
        try channel.writeAndFlush(channel.allocator.buffer(string: "twelve bytes")).wait()
        try channel.close(mode: .output).wait()
        let safetyNet = channel.eventLoop.scheduleTask(in: .seconds(10)) { channel.close(promise: nil) }
        let answer = String(decoding: try done.futureResult.wait(), as: UTF8.self)
        safetyNet.cancel()
        #expect(answer == "got 12 bytes\n")
        #expect(serverResult.withLock { $0 } == "ok")
    }

    /// The universal bootstrap helper: NIOClientTCPBootstrap + TLSKitClientTLSProvider against
    /// openssl s_server, and a server name the context refuses, reported as the channel's error.
    @Test(arguments: TestBackends.all)
    func universalBootstrapEnablesTLS(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let peer = try PeerProcess(
            "openssl", ["s_server", "-accept", "127.0.0.1:0", "-cert", pki.ecdsa.cert, "-key", pki.ecdsa.key, "-www", "-naccept", "1"])
        let port = try #require(peer.waitFor { peer.acceptedPort() })
        let context = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }

        let done = group.next().makePromise(of: [UInt8].self)
        let channel = try NIOClientTCPBootstrap(
            ClientBootstrap(group: group), tls: TLSKitClientTLSProvider(context: context, serverName: "localhost")
        )
        .enableTLS()
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(done: done)) }
        }
        .connect(host: "127.0.0.1", port: Int(port)).wait()
        try channel.writeAndFlush(channel.allocator.buffer(string: "GET / HTTP/1.0\r\n\r\n")).wait()
        let response = String(decoding: try done.futureResult.wait(), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.0 200 ok"), "\(response.prefix(200))")
        peer.finish()

        // "bad name" is neither a DNS name nor an IP address: the connection fails with the
        // context's own error instead of trapping or connecting without TLS.
        let listener = try ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? listener.close().wait() }
        let refused = group.next().makePromise(of: [UInt8].self)
        _ = try NIOClientTCPBootstrap(ClientBootstrap(group: group), tls: TLSKitClientTLSProvider(context: context, serverName: "bad name"))
            .enableTLS()
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(done: refused)) }
            }
            .connect(host: "127.0.0.1", port: try #require(listener.localAddress?.port)).wait()
        let error = #expect(throws: TLSError.self) { _ = try refused.futureResult.wait() }
        #expect(error?.code == .configuration, "\(String(describing: error))")
    }
}
