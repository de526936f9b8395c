import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOTLS
import TLSKit
import TLSKitNIO
import TLSKitOpenSSL

// An HTTP/1.1 server on SwiftNIO with TLSKitNIO: TLS 1.3 only, ALPN http/1.1.
//
//   example-nio-https-server --cert CHAIN.pem --key KEY.pem [--listen 127.0.0.1:8443]
//
// Prints "listening on HOST:PORT" (port 0 picks a free one), then answers every request with
// a short text naming the negotiated TLS version and application protocol.
#if canImport(Glibc)
import Glibc
#endif

/// Unbuffered output, so a script waiting for a line sees it at once.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
func complain(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

func fail(_ message: String) -> Never {
    complain("example-nio-https-server: \(message)")
    exit(1)
}

let arguments = Array(CommandLine.arguments.dropFirst())
@MainActor func option(_ name: String) -> String? {
    arguments.firstIndex(of: name).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
}
guard let cert = option("--cert"), let key = option("--key") else {
    fail("usage: example-nio-https-server --cert CHAIN.pem --key KEY.pem [--listen HOST:PORT]")
}
let listen = option("--listen") ?? "127.0.0.1:8443"
guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
    fail("--listen wants HOST:PORT, got \(listen)")
}
let host = String(listen[..<colon])

/// Answers each request once the TLS handshake has told it what was negotiated.
final class HelloHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: used on its channel's event loop only.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let tls: TLSChannelHandler
    private var keepAlive = false
    init(tls: TLSChannelHandler) { self.tls = tls }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            keepAlive = request.isKeepAlive
        case .body:
            break
        case .end:
            let info = tls.connectionInfo
            let body = "hello over \(info.map { "\($0.protocolVersion)" } ?? "?") with ALPN \(info?.applicationProtocol.map { "\($0)" } ?? "none")\n"
            var head = HTTPResponseHead(version: .http1_1, status: .ok)
            head.headers.add(name: "Content-Type", value: "text/plain")
            head.headers.add(name: "Content-Length", value: "\(body.utf8.count)")
            head.headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            let keepAlive = self.keepAlive
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { bound.value.close(promise: nil) }
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        complain("example-nio-https-server: \(error)")
        context.close(promise: nil)
    }
}

do {
    var configuration = TLSServerConfiguration(
        certificateChain: TLSSigningChain(certificate: .file(cert), privateKey: .file(key)))
    configuration.minimumVersion = .tls1_3
    configuration.applicationProtocols = [.http1_1]
    let context = try OpenSSLBackend().makeServerContext(configuration)
    let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let tls = try channel.pipeline.syncOperations.addTLSServerHandler(context: context)
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                try channel.pipeline.syncOperations.addHandler(HelloHandler(tls: tls))
            }
        }
        .bind(host: host, port: port).wait()
    say("listening on \(host):\(channel.localAddress?.port ?? port)")
    try channel.closeFuture.wait()
} catch {
    fail("\(error)")
}
