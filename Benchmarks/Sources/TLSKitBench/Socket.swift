import NIOCore
import NIOPosix
import TLSKit
import TLSKitIO
import TLSKitNIO

// The loopback workloads of reference/tls_loopback.c with a TLSKitNIO server:
// a SwiftNIO server (TLSChannelHandler) and a blocking TLSSocket client in one process.
#if canImport(Glibc)
import Glibc
#endif

/// Closes after the peer's close_notify (handshake workload).
final class CloseOnInputClosed: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
    }
}

/// Counts bytes; acknowledges each `expected` bytes with one byte (bulk workload).
final class CountAndAck: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: used on its channel's event loop only.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let expected: Int
    var received = 0
    init(expected: Int) { self.expected = expected }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += unwrapInboundIn(data).readableBytes
        while received >= expected {
            received -= expected
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(integer: UInt8(1))), promise: nil)
        }
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
    }
}

func runSocket(bulk: Bool) {
    let (clientContext, serverContext) = contexts(cert: option("cert", "ecdsa"))
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let chunk = 16_384
    let mib = Int(option("mib", "256"))!
    let writes = mib * (1 << 20) / chunk
    do {
        let server = try ServerBootstrap(group: group)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSChannelHandler(context: serverContext))
                    try channel.pipeline.syncOperations.addHandler(
                        bulk ? CountAndAck(expected: writes * chunk) as ChannelHandler : CloseOnInputClosed())
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        let port = UInt16(server.localAddress!.port!)
        let name = try TLSServerName("localhost")
        if bulk {
            let socket = try TLSSocket.connect(host: "127.0.0.1", port: port, context: clientContext, serverName: name)
            var data = [UInt8](repeating: 0x61, count: chunk)
            // Times the whole transfer of `writes` chunks up to the server's single acknowledgement
            // (the handshake finished inside connect, before the clock starts).
            let wall0 = now(CLOCK_MONOTONIC)
            let cpu0 = now(CLOCK_PROCESS_CPUTIME_ID)
            for _ in 0..<writes { try data.withUnsafeMutableBytes { try socket.send(UnsafeRawBufferPointer($0)) } }
            guard try socket.receive(maximumCount: 1) == [1] else { die("no acknowledgement") }
            let wall = now(CLOCK_MONOTONIC) - wall0
            let cpu = now(CLOCK_PROCESS_CPUTIME_ID) - cpu0
            let bytes = Double(writes * chunk)
            print(
                "{\"impl\":\"tlskit-\(backendName)-nio-socket\",\"bench\":\"bulk\",\"transport\":\"loopback-tcp\",\"bytes\":\(Int(bytes)),"
                    + "\"wall_s\":\(wall),\"cpu_s\":\(cpu),\"MBps\":\(bytes / wall / 1e6),\"MBps_cpu\":\(bytes / cpu / 1e6)}")
            try? socket.shutdown(waitForPeer: false)
            socket.close()
        } else {
            let iters = Int(option("iters", "1000"))!
            let warmup = Int(option("warmup", "50"))!
            var wall0 = 0.0
            var cpu0 = 0.0
            for i in 0..<(warmup + iters) {
                if i == warmup {
                    wall0 = now(CLOCK_MONOTONIC)
                    cpu0 = now(CLOCK_PROCESS_CPUTIME_ID)
                }
                let socket = try TLSSocket.connect(host: "127.0.0.1", port: port, context: clientContext, serverName: name)
                try socket.shutdown(waitForPeer: true)  // reads the tickets and the server's close_notify
                socket.close()
            }
            let wall = now(CLOCK_MONOTONIC) - wall0
            let cpu = now(CLOCK_PROCESS_CPUTIME_ID) - cpu0
            print(
                "{\"impl\":\"tlskit-\(backendName)-nio-socket\",\"bench\":\"handshake\",\"transport\":\"loopback-tcp\",\"iters\":\(iters),"
                    + "\"wall_s\":\(wall),\"cpu_s\":\(cpu),\"hs_per_s\":\(Double(iters) / wall),\"hs_per_cpu_s\":\(Double(iters) / cpu)}")
        }
        try server.close().wait()
        try group.syncShutdownGracefully()
    } catch {
        die("socket: \(error)")
    }
}
