import Foundation
import NIOCore
import NIOPosix
import NIOTLS
import Synchronization
import TLSKit
import TLSKitNIO
import TLSKitTestSupport
import Testing

/// Issue 10, bounded memory and time: what one connection can make the server hold, and how
/// long an idle one stays. Peers are real (Python's ssl module) on 127.0.0.1; every wait is bounded.
@Suite("Bounded memory and time", .serialized)
struct BoundedMemoryTests {
    /// Sends back what it reads, as `tlskit serve --mode echo` does; records the errors it sees.
    final class Echo: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked: used on its channel's event loop only; `errors` is a Mutex.
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let errors = Mutex<[TLSError]>([])
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.write(data, promise: nil) }
        func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
        func errorCaught(context: ChannelHandlerContext, error: Error) {
            if let error = error as? TLSError { errors.withLock { $0.append(error) } }
            context.close(promise: nil)
        }
    }

    /// The Python client: STARTTLS first in smtp mode, then writes up to MIB MiB without ever
    /// reading, and stops once a send has blocked for 2 s. Prints "sent N stalled|done", then
    /// holds the connection open until it is killed. Also used by IntegrationTests/cli.sh.
    static let floodClient = """
        import socket, ssl, sys, time
        port, cafile, mode, mib = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
        ctx = ssl.create_default_context(cafile=cafile)
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        def reply():
            while True:
                line = b""
                while not line.endswith(b"\\n"):
                    b = raw.recv(1)
                    if not b: sys.exit("closed during SMTP")
                    line += b
                if line[3:4] != b"-": return line
        if mode == "smtp":
            reply(); raw.sendall(b"EHLO flood\\r\\n"); reply(); raw.sendall(b"STARTTLS\\r\\n"); reply()
        tls = ctx.wrap_socket(raw, server_hostname="localhost")
        tls.settimeout(2)
        if mode == "smtp":
            tls.sendall(b"EHLO flood\\r\\nMAIL FROM:<a@example.com>\\r\\nRCPT TO:<b@example.com>\\r\\nDATA\\r\\n")
            chunk = (b"x" * 998 + b"\\r\\n") * 64
        else:
            chunk = b"x" * 65536
        sent, stalled, start = 0, False, time.monotonic()
        try:
            while sent < mib * 1048576 and time.monotonic() - start < 120:
                tls.sendall(chunk)
                sent += len(chunk)
        except (socket.timeout, TimeoutError):
            stalled = True
        print("sent %d %s" % (sent, "stalled" if stalled else "done"), flush=True)
        time.sleep(120)
        """

    static func residentBytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    /// Bounds a future's wait: fails with `.timeout` after `seconds`.
    static func result<T: Sendable>(of future: EventLoopFuture<T>, within seconds: Int64) -> Result<T, any Error> {
        let promise = future.eventLoop.makePromise(of: T.self)
        future.cascade(to: promise)
        future.eventLoop.scheduleTask(in: .seconds(seconds)) { promise.fail(TLSError(.timeout, "the test's bound passed")) }
        return Result { try promise.futureResult.wait() }
    }

    /// A client that writes 400 MiB into a NIO echo server and never reads: the server stops
    /// reading once its output is over the high-water mark, so its memory stays bounded. The old
    /// handler read on, and the echo buffered all of it.
    @Test(arguments: TestBackends.all)
    func echoServerStaysBoundedWhenThePeerNeverReads(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let context = try backend.make().makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer {
            try? group.syncShutdownGracefully()
            // The OpenSSL backend's library context must outlive the threads that used it: freed
            // first, OpenSSL's thread-exit handler touches it and crashes (a TLSKitOpenSSL bug).
            withExtendedLifetime(context) {}
        }
        let server = try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addTLSServerHandler(context: context)
                    try channel.pipeline.syncOperations.addHandler(Echo())
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? server.close().wait() }
        let port = try #require(server.localAddress?.port)
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("tlskit-flood-\(getpid()).py").path
        try Self.floodClient.write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }

        let before = Self.residentBytes()
        let client = try PeerProcess("python3", [script, "\(port)", pki.caFile, "echo", "400"])
        defer { client.stop() }
        #expect(client.waitForOutput("sent ", seconds: 150), "\(client.standardError)")
        let after = Self.residentBytes()
        let growth = after - before
        print(
            "[\(backend.name)] NIO echo, client never reads: \(client.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)); RSS \(before >> 20) → \(after >> 20) MiB (+\(growth >> 20) MiB)"
        )
        #expect(client.standardOutput.contains("stalled"), "the server read on: \(client.standardOutput)")
        #expect(growth < 64 << 20, "RSS grew by \(growth >> 20) MiB")
    }

    /// Plaintext written before the handshake completes is held up to `bufferLimit`; a write
    /// beyond it fails at once with an error naming the limit, and the connection goes on.
    @Test(arguments: TestBackends.all)
    func writesBeforeTheHandshakeAreBounded(backend: BackendUnderTest) throws {
        let context = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(InteropPKI.shared.caFile)))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer {
            try? group.syncShutdownGracefully()
            withExtendedLifetime(context) {}
        }
        // A peer that accepts and never answers: the handshake stays pending.
        let silent = try ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? silent.close().wait() }
        let channel = try ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addTLSClientHandler(context: context, serverName: "localhost")
                }
            }
            .connect(host: "127.0.0.1", port: try #require(silent.localAddress?.port)).wait()
        defer { try? channel.close().wait() }
        let first = channel.writeAndFlush(channel.allocator.buffer(repeating: 0x61, count: 60_000))
        let second = channel.writeAndFlush(channel.allocator.buffer(repeating: 0x62, count: 10_000))
        switch Self.result(of: second, within: 2) {
        case .failure(let error as TLSError):
            #expect(error.code == .invalidState)
            #expect(error.message.contains("bufferLimit of 65536"), "\(error.message)")
        case .failure(let error): Issue.record("the write over the limit failed with \(error), not with the limit's error")
        case .success: Issue.record("a write over the limit before the handshake succeeded")
        }
        if case .failure(let error as TLSError) = Self.result(of: first, within: 1), error.code == .timeout {
            // still pending: buffered for the handshake, as it should be
        } else {
            Issue.record("the write within the limit did not stay buffered for the handshake")
        }
        #expect(channel.isActive)
    }

    /// With `idleTimeout`, an established connection with no traffic is closed with
    /// close_notify (the client sees a clean end) and a `.timeout` error on the server.
    @Test(arguments: TestBackends.all)
    func idleConnectionsAreClosedAfterTheTimeout(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let serverContext = try backend.make().makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let clientContext = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer {
            try? group.syncShutdownGracefully()
            // Until the loop's thread has exited: see echoServerStaysBoundedWhenThePeerNeverReads.
            withExtendedLifetime((serverContext, clientContext)) {}
        }
        let echo = Echo()
        let server = try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tls = try channel.pipeline.syncOperations.addTLSServerHandler(context: serverContext)
                    tls.idleTimeout = .milliseconds(500)
                    try channel.pipeline.syncOperations.addHandler(echo)
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? server.close().wait() }
        let done = group.next().makePromise(of: [UInt8].self)
        let channel = try ClientBootstrap(group: group)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addTLSClientHandler(context: clientContext, serverName: "localhost")
                    try channel.pipeline.syncOperations.addHandler(NIOTests.Collector(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: try #require(server.localAddress?.port)).wait()
        // Activity keeps it open: an echo 300 ms in, then silence.
        try channel.writeAndFlush(channel.allocator.buffer(string: "ping")).wait()
        Thread.sleep(forTimeInterval: 0.3)
        try channel.writeAndFlush(channel.allocator.buffer(string: "pong")).wait()
        let started = Date()
        switch Self.result(of: done.futureResult, within: 10) {
        case .success(let bytes): #expect(String(decoding: bytes, as: UTF8.self) == "pingpong")
        case .failure(let error): Issue.record("the client did not see a clean close: \(error)")
        }
        let waited = Date().timeIntervalSince(started)
        #expect(waited > 0.3 && waited < 5, "closed after \(waited) s")
        #expect(echo.errors.withLock { $0.map(\.code) } == [.timeout])
    }

    /// Ciphertext that keeps coming after the peer's close_notify is kept only up to
    /// `bufferLimit` (for stopTLS); beyond that the connection fails with an error naming the limit.
    @Test(arguments: TestBackends.all)
    func inputAfterCloseNotifyIsBounded(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let serverContext = try backend.make().makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let clientContext = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer {
            try? group.syncShutdownGracefully()
            // Until the loop's thread has exited: see echoServerStaysBoundedWhenThePeerNeverReads.
            withExtendedLifetime((serverContext, clientContext)) {}
        }
        /// Stays open after the peer's close_notify (a STARTTLS server would call stopTLS later).
        final class Holder: ChannelInboundHandler, @unchecked Sendable {
            typealias InboundIn = ByteBuffer
            let errors = Mutex<[TLSError]>([])
            func errorCaught(context: ChannelHandlerContext, error: Error) {
                if let error = error as? TLSError { errors.withLock { $0.append(error) } }
            }
        }
        let holder = Holder()
        let server = try ServerBootstrap(group: group)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addTLSServerHandler(context: serverContext)
                    try channel.pipeline.syncOperations.addHandler(holder)
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? server.close().wait() }
        let done = group.next().makePromise(of: [UInt8].self)
        let channel = try ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addTLSClientHandler(context: clientContext, serverName: "localhost")
                    try channel.pipeline.syncOperations.addHandler(NIOTests.Collector(done: done))
                }
            }
            .connect(host: "127.0.0.1", port: try #require(server.localAddress?.port)).wait()
        defer { try? channel.close().wait() }
        try channel.writeAndFlush(channel.allocator.buffer(string: "hello")).wait()
        // close_notify both ways, then cleartext: 1 MiB, far over the server's 64 KiB.
        let unwrapped = channel.eventLoop.makePromise(of: Void.self)
        channel.eventLoop.execute {
            do { try channel.pipeline.syncOperations.handler(type: TLSChannelHandler.self).stopTLS(promise: unwrapped) } catch {
                unwrapped.fail(error)
            }
        }
        guard case .success = Self.result(of: unwrapped.futureResult, within: 10) else {
            Issue.record("stopTLS did not finish")
            return
        }
        for _ in 0..<16 { _ = Self.result(of: channel.writeAndFlush(channel.allocator.buffer(repeating: 0x78, count: 65_536)), within: 10) }
        let deadline = Date().addingTimeInterval(10)
        while holder.errors.withLock({ $0.isEmpty }) && Date() < deadline { usleep(10_000) }
        let errors = holder.errors.withLock { $0 }
        #expect(errors.map(\.code) == [.protocolViolation], "\(errors)")
        #expect(errors.first?.message.contains("more than 65536 bytes after its close_notify") == true)
    }

    /// The GnuTLS input queue drops what it has read without moving the rest each time: reading
    /// 128 MiB that arrived at once takes linear time. The old queue moved the whole remainder
    /// every 64 KiB (about 128 GiB of copying here; tens of seconds).
    @Test(arguments: TestBackends.all)
    func aLargeInputBacklogIsReadInLinearTime(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let b = try backend.make()
        let pair = try ConnectionPair(
            client: b.makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile))),
            server: b.makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain)))
        #expect(pair.handshake())
        let chunk = [UInt8](repeating: 0x7A, count: 1 << 20)
        for _ in 0..<128 {
            var offset = 0
            while offset < chunk.count { offset += try pair.client.write(Array(chunk[offset...])) }
            pair.transfer(from: pair.client, to: pair.server)
        }
        var buffer = [UInt8](repeating: 0, count: 16_384)
        var total = 0
        let started = Date()
        readLoop: while Date().timeIntervalSince(started) < 10 {
            for _ in 0..<64 {
                let result = try buffer.withUnsafeMutableBytes { raw throws(TLSError) in try pair.server.read(into: raw) }
                guard case .bytes(let n) = result else { break readLoop }
                total += n
            }
        }
        let elapsed = Date().timeIntervalSince(started)
        print("[\(backend.name)] read \(total >> 20) MiB of backlog in \(String(format: "%.2f", elapsed)) s")
        #expect(total == 128 << 20, "read \(total >> 20) MiB in 10 s")
    }
}
