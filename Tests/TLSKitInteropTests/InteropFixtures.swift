import Foundation
import TLSKit
import TLSKitIO
import TLSKitOpenSSL
import TLSKitTestSupport

/// Certificates on disk for the external peers.
final class InteropPKI: @unchecked Sendable {
    // @unchecked: immutable after init.
    static let shared = try! InteropPKI()

    let directory: URL
    let ca: TestPKI.Authority
    let ecdsa: (identity: TestPKI.Identity, cert: String, key: String)
    let rsa: (identity: TestPKI.Identity, cert: String, key: String)
    let rsaCA: TestPKI.Authority
    let client: (identity: TestPKI.Identity, cert: String, key: String)
    let caFile: String
    let rsaCAFile: String
    let selfSigned: (cert: String, key: String)

    private init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tlskit-interop-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        ca = try TestPKI.Authority.root(name: "Interop Root")
        rsaCA = try TestPKI.Authority.root(name: "Interop RSA Root", keyType: .rsa2048)
        let e = try ca.issue(usage: .server)
        ecdsa = (e, try e.write(to: directory, name: "ecdsa").certificate, try e.write(to: directory, name: "ecdsa").key)
        let r = try rsaCA.issue(keyType: .rsa2048, usage: .server)
        rsa = (r, try r.write(to: directory, name: "rsa").certificate, try r.write(to: directory, name: "rsa").key)
        let c = try ca.issue(commonName: "interop-client", dnsNames: [], ipAddresses: [], usage: .client)
        client = (c, try c.write(to: directory, name: "client").certificate, try c.write(to: directory, name: "client").key)
        caFile = directory.appendingPathComponent("ca.pem").path
        try ca.certificatePEM.write(toFile: caFile, atomically: true, encoding: .utf8)
        rsaCAFile = directory.appendingPathComponent("rsa-ca.pem").path
        try rsaCA.certificatePEM.write(toFile: rsaCAFile, atomically: true, encoding: .utf8)
        let paths = try TestPKI.selfSignedLeaf().write(to: directory, name: "self-signed")
        selfSigned = (paths.certificate, paths.key)
    }

    func server(_ keyType: TestPKI.KeyType) -> (identity: TestPKI.Identity, cert: String, key: String, caFile: String) {
        keyType == .p256 ? (ecdsa.identity, ecdsa.cert, ecdsa.key, caFile) : (rsa.identity, rsa.cert, rsa.key, rsaCAFile)
    }
}

/// A TLSKit server on 127.0.0.1 in this process, handling a fixed number of connections
/// on a background thread and recording what it saw.
final class InProcessServer: @unchecked Sendable {
    // @unchecked: `results` is guarded by `lock`; the listener is used by one thread.
    struct Result {
        var info: TLSConnectionInfo?
        var received: [UInt8] = []
        var error: TLSError?
    }

    let listener: TLSListener
    private let lock = NSLock()
    private var results: [Result] = []
    private let done = DispatchSemaphore(value: 0)

    var port: UInt16 { listener.port }

    /// - Parameters:
    ///   - http: answer one HTTP request, then close; otherwise echo.
    ///   - lineMode: when echoing, close after the first line.
    init(
        _ configuration: TLSServerConfiguration, backend: BackendUnderTest = TestBackends.all[0], connections: Int = 1,
        http: Bool = false, lineMode: Bool = false
    ) throws {
        let context = try backend.make().makeServerContext(configuration)
        listener = try TLSListener(host: "127.0.0.1", port: 0, context: context)
        listener.timeout = .seconds(10)
        let listener = self.listener
        Thread.detachNewThread { [self] in
            for _ in 0..<connections {
                var result = Result()
                do {
                    let socket = try listener.accept()
                    defer { socket.close() }
                    do {
                        try socket.handshake()
                        result.info = socket.connectionInfo
                        if http {
                            while let chunk = try socket.receive() {
                                result.received += chunk
                                if String(decoding: result.received, as: UTF8.self).contains("\r\n\r\n") { break }
                            }
                            let body = "hello from TLSKit over \(socket.connectionInfo!.protocolVersion)\n"
                            try socket.send("HTTP/1.0 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                            try socket.shutdown(waitForPeer: true)
                        } else {
                            while let chunk = try socket.receive() {
                                result.received += chunk
                                try socket.send(chunk)
                                // Line mode: one line, then close (s_client -ign_eof waits for us).
                                if lineMode && chunk.last == 0x0A { break }
                            }
                            try socket.shutdown(waitForPeer: false)
                        }
                    } catch let error as TLSError {
                        result.error = error
                    } catch {
                        result.error = TLSError(.internal, "\(error)")
                    }
                } catch let error as TLSError {
                    result.error = error
                } catch {
                    result.error = TLSError(.internal, "\(error)")
                }
                lock.withLock { results.append(result) }
            }
            done.signal()
        }
    }

    /// Waits for the connections to finish and returns what the server saw.
    func finish(seconds: Int = 20) -> [Result] {
        _ = done.wait(timeout: .now() + .seconds(seconds))
        listener.close()
        return lock.withLock { results }
    }
}
