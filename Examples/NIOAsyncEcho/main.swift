import Foundation
import NIOCore
import NIOPosix
import TLSKit
import TLSKitNIO
import TLSKitOpenSSL

// An echo server and client with NIOAsyncChannel over TLSKitNIO: structured concurrency,
// no callbacks.
//
//   example-nio-async-echo server --cert CHAIN.pem --key KEY.pem [--listen 127.0.0.1:0]
//   example-nio-async-echo client HOST:PORT --ca CA.pem [--server-name NAME] [--message TEXT]
//
// The server prints "listening on HOST:PORT"; the client prints what came back.
#if canImport(Glibc)
import Glibc
#endif

/// Unbuffered output, so a script waiting for a line sees it at once.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
func complain(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

func fail(_ message: String) -> Never {
    complain("example-nio-async-echo: \(message)")
    exit(1)
}

func option(_ name: String) -> String? {
    let arguments = Array(CommandLine.arguments.dropFirst())
    return arguments.firstIndex(of: name).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
}
func hostPort(_ text: String) -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
        fail("expected HOST:PORT, got \(text)")
    }
    return (String(text[..<colon]), port)
}

func runServer() async throws {
    guard let cert = option("--cert"), let key = option("--key") else { fail("server needs --cert and --key") }
    let (host, port) = hostPort(option("--listen") ?? "127.0.0.1:0")
    let context = try OpenSSLBackend().makeServerContext(
        TLSServerConfiguration(certificateChain: TLSSigningChain(certificate: .file(cert), privateKey: .file(key))))
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
        .bind(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addTLSServerHandler(context: context)
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    say("listening on \(host):\(server.channel.localAddress?.port ?? port)")
    try await withThrowingDiscardingTaskGroup { group in
        try await server.executeThenClose { connections in
            for try await connection in connections {
                group.addTask {
                    do {
                        try await connection.executeThenClose { input, output in
                            for try await chunk in input { try await output.write(chunk) }
                        }
                    } catch {
                        complain("example-nio-async-echo: connection: \(error)")
                    }
                }
            }
        }
    }
}

func runClient() async throws {
    let arguments = Array(CommandLine.arguments.dropFirst())
    guard arguments.count > 1, let ca = option("--ca") else { fail("client needs HOST:PORT and --ca") }
    let (host, port) = hostPort(arguments[1])
    let message = option("--message") ?? "hello over TLSKitNIO"
    let context = try OpenSSLBackend().makeClientContext(TLSClientConfiguration(trustStore: .file(ca)))
    let serverName = option("--server-name") ?? host
    let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addTLSClientHandler(context: context, serverName: serverName)
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    let echoed = try await client.executeThenClose { input, output in
        try await output.write(ByteBuffer(string: message))
        var received = ""
        for try await chunk in input {
            received += String(buffer: chunk)
            if received.utf8.count >= message.utf8.count { break }
        }
        return received
    }
    print(echoed)
}

do {
    switch CommandLine.arguments.dropFirst().first {
    case "server": try await runServer()
    case "client": try await runClient()
    default: fail("usage: example-nio-async-echo server|client …")
    }
} catch {
    fail("\(error)")
}
