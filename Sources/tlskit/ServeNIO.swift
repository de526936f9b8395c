import Foundation
import NIOCore
import NIOPosix
import TLSKit
import TLSKitNIO

/// `tlskit serve` without STARTTLS: SwiftNIO with TLSKitNIO's handler, so many
/// connections are served at once on a few event-loop threads.
enum ServeNIO {
    static func run(
        host: String, port: Int, context: any TLSServerContext, mode: Serve.Mode, limits: Serve.Limits
    ) throws -> Never {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let gate = ConnectionGate(maximum: limits.maxConnections)
        let idle = limits.idleTimeout.map { TimeAmount.nanoseconds(Int64($0 * 1e9)) }
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                // Over the limit: a failed initializer makes NIO close the new channel at once.
                guard gate.admit(channel) else { return channel.eventLoop.makeFailedFuture(ConnectionGate.Refused()) }
                return channel.eventLoop.makeCompletedFuture {
                    let tls = try channel.pipeline.syncOperations.addTLSServerHandler(context: context)
                    tls.idleTimeout = idle
                    switch mode {
                    case .echo: try channel.pipeline.syncOperations.addHandler(EchoHandler())
                    case .http: try channel.pipeline.syncOperations.addHandler(HTTPHandler(tls: tls))
                    }
                }
            }
            .bind(host: host, port: port).wait()
        let address = channel.localAddress
        let shownHost = address?.ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? host
        printFlushed("listening on \(shownHost):\(address?.port ?? port)")
        try channel.closeFuture.wait()
        exit(0)
    }

    static func report(_ context: ChannelHandlerContext, _ error: Error) {
        let peer = context.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        let text = (error as? TLSError).map { "\($0.code): \($0.message)" } ?? "\(error)"
        FileHandle.standardError.write(Data("tlskit: connection from \(peer): \(text)\n".utf8))
    }

    /// Counts open connections and refuses those over `maximum` with one log line each, so
    /// the server goes on serving the ones it holds.
    final class ConnectionGate: Sendable {
        struct Refused: Error {}
        private let maximum: Int
        private let open = Serve.ConnectionCount()
        init(maximum: Int) { self.maximum = maximum }

        func admit(_ channel: Channel) -> Bool {
            let admitted = open.admit(maximum: maximum)
            guard admitted else {
                let peer = channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
                FileHandle.standardError.write(
                    Data(
                        "tlskit: refused connection from \(peer): --max-connections \(maximum) reached\n".utf8))
                return false
            }
            channel.closeFuture.whenComplete { [open] _ in open.release() }
            return true
        }
    }

    /// Sends back what it receives; closes when the peer sends close_notify. It writes only what
    /// it has read, and TLSChannelHandler stops reading while the channel is not writable, so a
    /// peer that sends without reading is held to the channel's write-buffer high-water mark.
    final class EchoHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.write(data, promise: nil)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            context.flush()
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            ServeNIO.report(context, error)
            context.close(promise: nil)
        }
    }

    /// One HTTP/1.0 response per connection, like `openssl s_server -www`.
    final class HTTPHandler: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked: used on its channel's event loop only.
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private let tls: TLSChannelHandler
        private var request: [UInt8] = []
        private var answered = false

        init(tls: TLSChannelHandler) { self.tls = tls }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !answered else { return }  // the rest of the request is not needed: drop it
            var buffer = unwrapInboundIn(data)
            request += buffer.readBytes(length: buffer.readableBytes) ?? []
            guard !answered, Serve.endsRequestHead(request) || request.count >= 65_536 else { return }
            answered = true
            let info = tls.connectionInfo
            var body = "TLSKit test server\r\n"
            body += "Protocol: \(info.map { "\($0.protocolVersion)" } ?? "?")\r\nCipher: \(info.map { "\($0.cipherSuite)" } ?? "?")\r\n"
            body += "ALPN: \(info?.applicationProtocol.map { "\($0)" } ?? "(none)")\r\n"
            body += "Client certificate: \(info.map { "\($0.peerVerification)" } ?? "?")\r\n"
            let response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: response))).whenComplete { _ in
                bound.value.close(promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            ServeNIO.report(context, error)
            context.close(promise: nil)
        }
    }
}
