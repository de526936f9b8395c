import Foundation
import TLSKit
import TLSKitIO
import TLSKitOpenSSL
import TLSKitTestSupport
import Testing

/// TLSKit against curl and Python's ssl module over loopback.
@Suite("Interop: curl and Python ssl", .serialized)
struct CurlAndPythonInteropTests {
    @Test(arguments: TestBackends.all, ["1.2", "1.3"])
    func curlFetchesFromServer(backend: BackendUnderTest, version: String) throws {
        for keyType in TestPKI.KeyType.allCases { try curlFetchesFromServer(backend, version, keyType) }
    }

    func curlFetchesFromServer(_ backend: BackendUnderTest, _ version: String, _ keyType: TestPKI.KeyType) throws {
        let pki = InteropPKI.shared
        let identity = pki.server(keyType)
        var config = TLSServerConfiguration(certificateChain: identity.identity.signingChain)
        config.applicationProtocols = [.http1_1]
        let server = try InProcessServer(config, backend: backend, http: true)
        let curl = try PeerProcess(
            "curl",
            [
                "-sS", "--max-time", "10", "--cacert", identity.caFile, "--resolve", "localhost:\(server.port):127.0.0.1",
                "--tlsv\(version)", "--tls-max", version, "https://localhost:\(server.port)/",
            ])
        let status = curl.finish()
        #expect(status == 0, "\(curl.standardError)")
        #expect(curl.standardOutput == "hello from TLSKit over TLSv\(version)\n")
        let result = try #require(server.finish().first)
        #expect(result.error == nil, "\(String(describing: result.error))")
        #expect(result.info?.applicationProtocol == .http1_1)
    }

    @Test func curlRefusesAServerWithTheWrongName() throws {
        let pki = InteropPKI.shared
        let server = try InProcessServer(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let curl = try PeerProcess(
            "curl",
            [
                "-sS", "--max-time", "10", "--cacert", pki.caFile, "--resolve", "wrong.test:\(server.port):127.0.0.1",
                "https://wrong.test:\(server.port)/",
            ])
        #expect(curl.finish() == 60)  // curl: peer certificate cannot be authenticated
        #expect(curl.standardError.contains("wrong.test"))
        // curl checks the name after the handshake and hangs up: no request reaches us.
        let result = try #require(server.finish().first)
        #expect(result.received.isEmpty)
    }

    static let pythonClient = """
        import socket, ssl, sys
        port, ca, version = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        ctx = ssl.create_default_context(cafile=ca)
        v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
        ctx.minimum_version = v
        ctx.maximum_version = v
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"hello from python")
                data = tls.recv(100)
                print(tls.version(), data.decode())
                tls.unwrap()
        """

    @Test(arguments: TestBackends.all, ["1.2", "1.3"])
    func pythonClientAgainstServer(backend: BackendUnderTest, version: String) throws {
        let pki = InteropPKI.shared
        let server = try InProcessServer(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain), backend: backend)
        let python = try PeerProcess("python3", ["-c", Self.pythonClient, "\(server.port)", pki.caFile, version])
        #expect(python.finish() == 0, "\(python.standardError)")
        #expect(python.standardOutput == "TLSv\(version) hello from python\n")
        let result = try #require(server.finish().first)
        #expect(result.error == nil, "\(String(describing: result.error))")
        #expect(String(decoding: result.received, as: UTF8.self) == "hello from python")
    }

    static let pythonServer = """
        import socket, ssl, sys
        cert, key = sys.argv[1], sys.argv[2]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        with socket.create_server(("127.0.0.1", 0)) as listener:
            print("PORT", listener.getsockname()[1], flush=True)
            raw, _ = listener.accept()
            raw.settimeout(10)
            with ctx.wrap_socket(raw, server_side=True) as tls:
                data = tls.recv(100)
                tls.sendall(b"python saw: " + data)
                tls.unwrap()
        """

    @Test(arguments: TestBackends.all)
    func clientAgainstPythonServer(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let python = try PeerProcess("python3", ["-c", Self.pythonServer, pki.ecdsa.cert, pki.ecdsa.key])
        let port = try #require(python.waitFor { python.printedPort() }, "\(python.standardError)")
        let context = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let socket = try TLSSocket.connect(host: "127.0.0.1", port: port, context: context, serverName: try TLSServerName("localhost"))
        try socket.send("ping")
        #expect(try socket.receive() == Array("python saw: ping".utf8))
        try socket.shutdown(waitForPeer: true)
        socket.close()
        #expect(python.finish() == 0, "\(python.standardError)")
    }

    @Test(arguments: TestBackends.all)
    func peerThatHangsUpMidHandshakeIsRaggedEOFNotAHang(backend: BackendUnderTest) throws {
        // A TCP server that reads the ClientHello and closes.
        let script = """
            import socket
            with socket.create_server(("127.0.0.1", 0)) as listener:
                print("PORT", listener.getsockname()[1], flush=True)
                raw, _ = listener.accept()
                raw.recv(4096)
                raw.close()
            """
        let python = try PeerProcess("python3", ["-c", script])
        let port = try #require(python.waitFor { python.printedPort() })
        let context = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(InteropPKI.shared.caFile)))
        let error = #expect(throws: TLSError.self) {
            _ = try TLSSocket.connect(host: "127.0.0.1", port: port, context: context, serverName: try TLSServerName("localhost"))
        }
        #expect(error?.code == .raggedEOF)
        python.finish()
    }

    @Test func silentPeerTimesOut() throws {
        let script = """
            import socket, time
            with socket.create_server(("127.0.0.1", 0)) as listener:
                print("PORT", listener.getsockname()[1], flush=True)
                raw, _ = listener.accept()
                time.sleep(5)
            """
        let python = try PeerProcess("python3", ["-c", script])
        let port = try #require(python.waitFor { python.printedPort() })
        let context = try OpenSSLBackend().makeClientContext(TLSClientConfiguration(trustStore: .file(InteropPKI.shared.caFile)))
        let error = #expect(throws: TLSError.self) {
            _ = try TLSSocket.connect(
                host: "127.0.0.1", port: port, context: context, serverName: try TLSServerName("localhost"), timeout: .milliseconds(300))
        }
        #expect(error?.code == .timeout)
        python.stop()
        python.finish()
    }

    @Test func connectionRefusedIsAnIOError() throws {
        let context = try OpenSSLBackend().makeClientContext(TLSClientConfiguration(trustStore: .file(InteropPKI.shared.caFile)))
        // Port 1 on loopback: nothing listens there in CI.
        let error = #expect(throws: TLSError.self) {
            _ = try TLSSocket.connect(host: "127.0.0.1", port: 1, context: context, serverName: try TLSServerName("localhost"))
        }
        #expect(error?.code == .io)
        #expect(error?.message.contains("refused") == true)
    }
}
