// One NIOHTTP1 keep-alive server, built three ways for a side-by-side benchmark: TLS from
// swift-nio-ssl's NIOSSLServerHandler, or from TLSKitNIO's TLSChannelHandler on the OpenSSL
// or the GnuTLS backend. Everything else (bootstrap, HTTP handler, responses) is the same.
//
//   TLSKitHTTPBench --impl nio-ssl|openssl|gnutls --cert leaf.pem --key leaf.key [--threads 1]
//
// Prints "listening on 127.0.0.1:PORT" and serves until killed. GET / answers "hello\n";
// GET /bulk answers 1 MiB written as 64 writes of 16 KiB.
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import TLSKit
import TLSKitGnuTLS
import TLSKitNIO
import TLSKitOpenSSL

#if canImport(Glibc)
import Glibc
#endif

final class HTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let chunk = ByteBuffer(repeating: 0x61, count: 16_384)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let bulk = head.uri == "/bulk"
        let length = bulk ? 64 * 16_384 : 6
        var headers = HTTPHeaders([("Content-Length", "\(length)")])
        headers.add(name: "Connection", value: head.isKeepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        if bulk {
            for _ in 0..<64 { context.write(wrapOutboundOut(.body(.byteBuffer(Self.chunk))), promise: nil) }
        } else {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "hello\n")))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            done.whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}

func option(_ name: String, default value: String? = nil) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: "--" + name), i + 1 < args.count { return args[i + 1] }
    guard let value else { fatalError("missing --\(name)") }
    return value
}

let impl = option("impl")
let cert = option("cert")
let key = option("key")
let threads = Int(option("threads", default: "1")) ?? 1

enum TLSSetup: @unchecked Sendable {
    case nioSSL(NIOSSLContext)
    case tlskit(any TLSServerContext)
}

let setup: TLSSetup
switch impl {
case "nio-ssl":
    let configuration = TLSConfiguration.makeServerConfiguration(
        certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
        privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
    setup = .nioSSL(try NIOSSLContext(configuration: configuration))
case "openssl", "gnutls":
    let backend: any TLSBackend = impl == "openssl" ? try OpenSSLBackend() : try GnuTLSBackend()
    let configuration = TLSServerConfiguration(certificateChain: TLSSigningChain(certificate: .file(cert), privateKey: .file(key)))
    setup = .tlskit(try backend.makeServerContext(configuration))
default:
    fatalError("--impl must be nio-ssl, openssl or gnutls")
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let channel = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            switch setup {
            case .nioSSL(let context):
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
            case .tlskit(let context):
                try channel.pipeline.syncOperations.addTLSServerHandler(context: context)
            }
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            try channel.pipeline.syncOperations.addHandler(HTTPHandler())
        }
    }
    .bind(host: "127.0.0.1", port: 0).wait()
print("listening on 127.0.0.1:\(channel.localAddress?.port ?? 0)")
fflush(nil)  // every stream: the driver waits for the line
try channel.closeFuture.wait()
