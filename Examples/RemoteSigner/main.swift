import Crypto
import Foundation
import TLSKit
import TLSKitIO
import TLSKitOpenSSL
import _CryptoExtras

// A TLS server whose private key lives in another process: a signing daemon on a Unix
// socket holds the key; the server holds only the certificate and asks the daemon for each
// handshake signature through a TLSSigner.
//
//   example-remote-signer daemon --key KEY.pem --socket PATH
//   example-remote-signer serve --cert CHAIN.pem --socket PATH [--listen 127.0.0.1:0]
//
// The daemon prints "signing on PATH"; the server prints "listening on HOST:PORT" and answers
// each HTTPS request with one line. The wire protocol between them (all integers big-endian):
//   request "P"                                   → u32 length, the DER SubjectPublicKeyInfo
//   request "S", u16 scheme, u16 length, digest   → u8 status (0 ok), u32 length, signature or error text
#if canImport(Glibc)
import Glibc
#endif

func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
func complain(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
func fail(_ message: String) -> Never {
    complain("example-remote-signer: \(message)")
    exit(1)
}
func option(_ name: String) -> String? {
    let arguments = Array(CommandLine.arguments.dropFirst())
    return arguments.firstIndex(of: name).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
}

// MARK: - Unix sockets

struct SocketError: Error, CustomStringConvertible {
    let description: String
}

func unixAddress(_ path: String) throws -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw SocketError(description: "socket path too long: \(path)") }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    return address
}

func withAddress<R>(_ address: inout sockaddr_un, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}

func readExactly(_ fd: Int32, _ count: Int) throws -> [UInt8] {
    var result = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
        let n = result.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, count - done) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw SocketError(description: n == 0 ? "the peer closed the socket" : "read: \(String(cString: strerror(errno)))") }
        done += n
    }
    return result
}

func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw SocketError(description: "write: \(String(cString: strerror(errno)))") }
        done += n
    }
}

func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
func int(_ bytes: [UInt8]) -> Int { bytes.reduce(0) { $0 << 8 | Int($1) } }

// MARK: - The daemon: holds the key, signs digests

/// swift-crypto has no public initialiser for a digest made elsewhere; its digest types are
/// plain bytes, so they load from them.
func load<D: Digest>(_ bytes: [UInt8], as: D.Type) throws -> D {
    guard bytes.count == D.byteCount, MemoryLayout<D>.size == D.byteCount else {
        throw SocketError(description: "a \(D.byteCount)-byte digest was expected, got \(bytes.count) bytes")
    }
    return bytes.withUnsafeBytes { $0.loadUnaligned(as: D.self) }
}

enum DaemonKey {
    case p256(P256.Signing.PrivateKey)
    case rsa(_RSA.Signing.PrivateKey)

    var publicKey: [UInt8] {
        switch self {
        case .p256(let key): return Array(key.publicKey.derRepresentation)
        case .rsa(let key): return Array(key.publicKey.derRepresentation)
        }
    }

    func sign(_ digest: [UInt8], scheme: UInt16) throws -> [UInt8] {
        switch self {
        case .p256(let key):
            guard scheme == 0x0403 else { throw SocketError(description: "a P-256 key signs ecdsa_secp256r1_sha256 only") }
            return Array(try key.signature(for: load(digest, as: SHA256Digest.self)).derRepresentation)
        case .rsa(let key):
            let padding: _RSA.Signing.Padding = scheme >> 8 == 0x08 ? .PSS : .insecurePKCS1v1_5
            switch digest.count {
            case 32: return Array(try key.signature(for: load(digest, as: SHA256Digest.self), padding: padding).rawRepresentation)
            case 48: return Array(try key.signature(for: load(digest, as: SHA384Digest.self), padding: padding).rawRepresentation)
            default: return Array(try key.signature(for: load(digest, as: SHA512Digest.self), padding: padding).rawRepresentation)
            }
        }
    }
}

func runDaemon() throws -> Never {
    guard let keyPath = option("--key"), let socketPath = option("--socket") else { fail("daemon needs --key and --socket") }
    let pem = try String(contentsOfFile: keyPath, encoding: .utf8)
    let key: DaemonKey
    if let p256 = try? P256.Signing.PrivateKey(pemRepresentation: pem) {
        key = .p256(p256)
    } else {
        key = .rsa(try _RSA.Signing.PrivateKey(pemRepresentation: pem))
    }
    unlink(socketPath)
    let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = try unixAddress(socketPath)
    guard withAddress(&address, { bind(listener, $0, $1) }) == 0, listen(listener, 16) == 0 else {
        fail("cannot listen on \(socketPath): \(String(cString: strerror(errno)))")
    }
    say("signing on \(socketPath)")
    var signed = 0
    while true {
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { continue }
        defer { close(connection) }
        do {
            while true {
                let op = try readExactly(connection, 1)[0]
                if op == UInt8(ascii: "P") {
                    try writeAll(connection, be32(key.publicKey.count) + key.publicKey)
                } else if op == UInt8(ascii: "S") {
                    let header = try readExactly(connection, 4)
                    let digest = try readExactly(connection, int(Array(header[2...])))
                    do {
                        let signature = try key.sign(digest, scheme: UInt16(int(Array(header[..<2]))))
                        try writeAll(connection, [0] + be32(signature.count) + signature)
                        signed += 1
                        complain("signed \(signed) digest(s)")
                    } catch {
                        let text = Array("\(error)".utf8)
                        try writeAll(connection, [1] + be32(text.count) + text)
                    }
                } else {
                    break
                }
            }
        } catch {
            // The client went away; wait for the next one.
        }
    }
}

// MARK: - The server: a TLSSigner that asks the daemon

struct RemoteSigner: TLSSigner {
    let socketPath: String
    let publicKey: [UInt8]
    let signatureSchemes: [TLSSignatureScheme]

    init(socketPath: String) throws {
        self.socketPath = socketPath
        let fd = try Self.connect(socketPath)
        defer { close(fd) }
        try writeAll(fd, Array("P".utf8))
        let spki = try readExactly(fd, int(try readExactly(fd, 4)))
        publicKey = spki
        // The key type decides the schemes: an EC key's SPKI names id-ecPublicKey (1.2.840.10045.2.1).
        let ecOID: [UInt8] = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]
        let isEC = spki.count > ecOID.count && (0...(spki.count - ecOID.count)).contains { Array(spki[$0..<$0 + ecOID.count]) == ecOID }
        signatureSchemes = isEC ? [.ecdsaSecp256r1SHA256] : [.rsaPSSRSAESHA256, .rsaPSSRSAESHA384, .rsaPSSRSAESHA512, .rsaPKCS1SHA256]
    }

    static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = try unixAddress(path)
        guard withAddress(&address, { Glibc.connect(fd, $0, $1) }) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw SocketError(description: "cannot reach the signing daemon at \(path): \(reason)")
        }
        // A daemon that stops answering fails the handshake after 5 s instead of holding it.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    func sign(digest: [UInt8], scheme: TLSSignatureScheme) throws -> [UInt8] {
        let fd = try Self.connect(socketPath)
        defer { close(fd) }
        try writeAll(fd, Array("S".utf8) + be16(Int(scheme.rawValue)) + be16(digest.count) + digest)
        let status = try readExactly(fd, 1)[0]
        let body = try readExactly(fd, int(try readExactly(fd, 4)))
        guard status == 0 else { throw SocketError(description: "the signing daemon refused: \(String(decoding: body, as: UTF8.self))") }
        return body
    }
}

func runServer() throws -> Never {
    guard let cert = option("--cert"), let socketPath = option("--socket") else { fail("serve needs --cert and --socket") }
    let listen = option("--listen") ?? "127.0.0.1:0"
    guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]) else {
        fail("--listen wants HOST:PORT")
    }
    let signer = try RemoteSigner(socketPath: socketPath)
    let context = try OpenSSLBackend().makeServerContext(
        TLSServerConfiguration(
            certificateChain: TLSSigningChain(certificate: .file(cert), privateKey: .signer(signer, name: "daemon at \(socketPath)"))))
    let listener = try TLSListener(host: String(listen[..<colon]), port: port, context: context)
    say("listening on \(listener.host):\(listener.port)")
    while true {
        let connection: TLSSocket
        do {
            connection = try listener.accept()
        } catch {
            complain("accept: \(error)")
            continue
        }
        // One connection at a time: enough for an example (TLSSocket is not Sendable).
        defer { connection.close() }
        do {
            try connection.handshake()
            var request: [UInt8] = []
            while !request.ends(with: Array("\r\n\r\n".utf8)), let chunk = try connection.receive() { request += chunk }
            let body = "signed by the daemon, over \(connection.connectionInfo?.protocolVersion.description ?? "?")\n"
            try connection.send("HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
            try connection.shutdown(waitForPeer: false)
        } catch {
            complain("connection: \(error)")
        }
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}

do {
    switch CommandLine.arguments.dropFirst().first {
    case "daemon": try runDaemon()
    case "serve": try runServer()
    default: fail("usage: example-remote-signer daemon --key KEY.pem --socket PATH | serve --cert CHAIN.pem --socket PATH [--listen HOST:PORT]")
    }
} catch {
    fail("\(error)")
}
