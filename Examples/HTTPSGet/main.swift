import Foundation
import TLSKit
import TLSKitIO
import TLSKitOpenSSL

// An HTTPS GET over TLSSocket, directly or through an HTTP CONNECT proxy.
//
//   example-https-get https://HOST[:PORT]/PATH [--ca FILE] [--proxy HOST:PORT]
//
// Prints the response body; the status line, TLS version and ALPN go to stderr.
#if canImport(Glibc)
import Glibc
#endif

/// Unbuffered output, so a script waiting for a line sees it at once.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
func complain(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

func fail(_ message: String) -> Never {
    complain("example-https-get: \(message)")
    exit(1)
}

func splitHostPort(_ text: Substring, defaultPort: UInt16) -> (String, UInt16) {
    if let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) {
        return (String(text[..<colon]), port)
    }
    return (String(text), defaultPort)
}

var arguments = Array(CommandLine.arguments.dropFirst())
@MainActor func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    defer { arguments.removeSubrange(index...index + 1) }
    return arguments[index + 1]
}
let caFile = option("--ca")
let proxy = option("--proxy")
guard let url = arguments.first, url.hasPrefix("https://") else {
    fail("usage: example-https-get https://HOST[:PORT]/PATH [--ca FILE] [--proxy HOST:PORT]")
}
let rest = url.dropFirst("https://".count)
let authority = rest.prefix { $0 != "/" }
let path = rest.dropFirst(authority.count).isEmpty ? "/" : String(rest.dropFirst(authority.count))
let (host, port) = splitHostPort(authority, defaultPort: 443)

/// Sends the CONNECT request in cleartext and reads the proxy's answer up to the blank line —
/// byte by byte, so not one byte of the TLS that follows is consumed here.
func tunnel(through fd: Int32, to host: String, port: UInt16) throws(TLSError) {
    let request = "CONNECT \(host):\(port) HTTP/1.1\r\nHost: \(host):\(port)\r\n\r\n"
    guard send(fd, request, request.utf8.count, Int32(MSG_NOSIGNAL)) == request.utf8.count else {
        throw TLSError(.io, "could not send CONNECT to the proxy: \(String(cString: strerror(errno)))")
    }
    var answer: [UInt8] = []
    var byte: UInt8 = 0
    while !answer.ends(with: Array("\r\n\r\n".utf8)) {
        guard recv(fd, &byte, 1, 0) == 1 else { throw TLSError(.io, "the proxy closed the connection during CONNECT") }
        answer.append(byte)
        if answer.count > 16_384 { throw TLSError(.protocolViolation, "the proxy's CONNECT answer is too long") }
    }
    let status = String(decoding: answer.prefix { $0 != 13 }, as: UTF8.self)
    guard status.split(separator: " ").dropFirst().first == "200" else {
        throw TLSError(.io, "the proxy refused the tunnel: \(status)")
    }
    complain("proxy: \(status)")
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}

do {
    var configuration = TLSClientConfiguration(trustStore: caFile.map { .file($0) } ?? .system)
    configuration.applicationProtocols = [.http1_1]
    let context = try OpenSSLBackend().makeClientContext(configuration)
    let serverName = try TLSServerName(host)
    let socket: TLSSocket
    if let proxy {
        let (proxyHost, proxyPort) = splitHostPort(Substring(proxy), defaultPort: 8080)
        socket = try TLSSocket.connect(
            host: proxyHost, port: proxyPort, context: context, serverName: serverName,
            beforeHandshake: { fd throws(TLSError) in try tunnel(through: fd, to: host, port: port) })
    } else {
        socket = try TLSSocket.connect(host: host, port: port, context: context, serverName: serverName)
    }
    try socket.send("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\nUser-Agent: tlskit-example\r\n\r\n")
    var response: [UInt8] = []
    while let chunk = try socket.receive() { response += chunk }
    try? socket.shutdown()
    let info = socket.connectionInfo
    complain("tls: \(info.map { "\($0.protocolVersion)" } ?? "?"), alpn: \(info?.applicationProtocol.map { "\($0)" } ?? "none")")
    let text = String(decoding: response, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { fail("the server's answer is not HTTP") }
    complain("\(text[..<split.lowerBound].prefix { $0 != "\r" })")
    print(text[split.upperBound...], terminator: "")
} catch {
    fail("\(error)")
}
