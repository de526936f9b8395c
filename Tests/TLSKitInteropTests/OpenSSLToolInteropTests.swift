import Foundation
import TLSKit
import TLSKitIO
import TLSKitOpenSSL
import TLSKitTestSupport
import Testing

/// TLSKit against the `openssl s_server` / `s_client` programs over loopback.
@Suite("Interop: openssl s_server / s_client", .serialized)
struct OpenSSLToolInteropTests {
    static let versions: [TLSProtocolVersion] = [.tls1_2, .tls1_3]

    @Test(arguments: TestBackends.all, versions)
    func clientAgainstSServer(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        for keyType in TestPKI.KeyType.allCases { try clientAgainstSServer(backend, version, keyType) }
    }

    func clientAgainstSServer(_ backend: BackendUnderTest, _ version: TLSProtocolVersion, _ keyType: TestPKI.KeyType) throws {
        let pki = InteropPKI.shared
        let server = pki.server(keyType)
        let flag = version == .tls1_3 ? "-tls1_3" : "-tls1_2"
        let peer = try PeerProcess(
            "openssl", ["s_server", "-accept", "127.0.0.1:0", "-cert", server.cert, "-key", server.key, flag, "-www", "-naccept", "1"])
        let port = try #require(peer.waitFor { peer.acceptedPort() }, "s_server did not start: \(peer.standardError)")

        let context = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(server.caFile)))
        let socket = try TLSSocket.connect(host: "127.0.0.1", port: port, context: context, serverName: try TLSServerName("localhost"))
        #expect(socket.connectionInfo?.protocolVersion == version)
        #expect(socket.connectionInfo?.peerVerification == .verified)
        #expect(socket.connectionInfo?.peerLeafCertificate == server.identity.certificateDER)
        try socket.send("GET / HTTP/1.0\r\n\r\n")
        var response: [UInt8] = []
        while let chunk = try socket.receive() { response += chunk }
        let text = String(decoding: response, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.0 200 ok"))
        #expect(text.contains(version == .tls1_3 ? "TLSv1.3" : "TLSv1.2"))
        socket.close()
        peer.finish()
    }

    @Test(arguments: TestBackends.all)
    func clientRejectsAnUntrustedSServer(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let peer = try PeerProcess(
            "openssl", ["s_server", "-accept", "127.0.0.1:0", "-cert", pki.selfSigned.cert, "-key", pki.selfSigned.key, "-naccept", "1"])
        let port = try #require(peer.waitFor { peer.acceptedPort() })
        let context = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let error = #expect(throws: TLSError.self) {
            _ = try TLSSocket.connect(host: "127.0.0.1", port: port, context: context, serverName: try TLSServerName("localhost"))
        }
        #expect(error?.code == .certificateVerification)
        #expect([.selfSigned, .unknownIssuer].contains(error?.verificationFailure?.reason))
        peer.finish(seconds: 5)
    }

    @Test(arguments: TestBackends.all)
    func clientWithCertificateAgainstSServerRequiringOne(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let peer = try PeerProcess(
            "openssl",
            [
                "s_server", "-accept", "127.0.0.1:0", "-cert", pki.ecdsa.cert, "-key", pki.ecdsa.key,
                "-Verify", "1", "-CAfile", pki.caFile, "-verify_return_error", "-www", "-naccept", "1",
            ])
        let port = try #require(peer.waitFor { peer.acceptedPort() })
        var config = TLSClientConfiguration(trustStore: .file(pki.caFile))
        config.certificateChain = TLSSigningChain(certificate: .file(pki.client.cert), privateKey: .file(pki.client.key))
        let socket = try TLSSocket.connect(
            host: "127.0.0.1", port: port, context: try backend.make().makeClientContext(config), serverName: try TLSServerName("localhost"))
        try socket.send("GET / HTTP/1.0\r\n\r\n")
        var response: [UInt8] = []
        while let chunk = try socket.receive() { response += chunk }
        #expect(String(decoding: response, as: UTF8.self).contains("interop-client"))
        socket.close()
        peer.finish()
    }

    @Test(arguments: TestBackends.all, versions)
    func sClientAgainstServer(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        for keyType in TestPKI.KeyType.allCases { try sClientAgainstServer(backend, version, keyType) }
    }

    func sClientAgainstServer(_ backend: BackendUnderTest, _ version: TLSProtocolVersion, _ keyType: TestPKI.KeyType) throws {
        let pki = InteropPKI.shared
        let identity = pki.server(keyType)
        let server = try InProcessServer(
            TLSServerConfiguration(certificateChain: identity.identity.signingChain), backend: backend, lineMode: true)
        let flag = version == .tls1_3 ? "-tls1_3" : "-tls1_2"
        let peer = try PeerProcess(
            "openssl",
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "localhost", "-verify_hostname", "localhost",
                "-CAfile", identity.caFile, "-verify_return_error", flag, "-brief", "-ign_eof",
            ],
            stdin: Data("hello from s_client\n".utf8))
        peer.finish()
        let results = server.finish()
        let result = try #require(results.first)
        #expect(result.error == nil, "\(String(describing: result.error))")
        #expect(result.info?.protocolVersion == version)
        #expect(String(decoding: result.received, as: UTF8.self) == "hello from s_client\n")
        #expect(peer.standardError.contains("Verification: OK"), "\(peer.standardError)")
        #expect(peer.standardOutput.contains("hello from s_client"))
    }

    /// OpenSSL's client (like curl, browsers and BoringSSL) sends one X25519 key share. A
    /// server that prefers another group answers with a HelloRetryRequest: a second round trip
    /// on every connection. Both backends' servers take the share, under every policy
    /// (`.systemDefault` on a machine without a GnuTLS system priority file, as in CI).
    @Test(arguments: TestBackends.all, [TLSSecurityPolicy.systemDefault, .modern, .compatible])
    func serverTakesTheClientsX25519ShareWithoutARetry(backend: BackendUnderTest, policy: TLSSecurityPolicy) throws {
        let pki = InteropPKI.shared
        var config = TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain)
        config.securityPolicy = policy
        let server = try InProcessServer(config, backend: backend, lineMode: true)
        let peer = try PeerProcess(
            "openssl",
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "localhost", "-CAfile", pki.caFile,
                "-tls1_3", "-msg", "-ign_eof",
            ],
            stdin: Data("one round trip\n".utf8))
        peer.finish()
        let result = try #require(server.finish().first)
        #expect(result.error == nil, "\(String(describing: result.error))")
        let clientHellos = peer.standardOutput.components(separatedBy: "\n").filter { $0.hasPrefix(">>>") && $0.hasSuffix("ClientHello") }
        #expect(clientHellos.count == 1, "a HelloRetryRequest made the client send \(clientHellos.count) ClientHellos")
        #expect(peer.standardOutput.contains("Server Temp Key: X25519"), "\(peer.standardOutput.suffix(800))")
    }

    @Test(arguments: TestBackends.all)
    func sClientWithCertificateAgainstMutualTLSServer(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        var config = TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain)
        config.trustStore = .file(pki.caFile)
        let server = try InProcessServer(config, backend: backend, lineMode: true)
        let peer = try PeerProcess(
            "openssl",
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "localhost", "-CAfile", pki.caFile,
                "-cert", pki.client.cert, "-key", pki.client.key, "-brief", "-ign_eof",
            ],
            stdin: Data("mtls\n".utf8))
        peer.finish()
        let result = try #require(server.finish().first)
        #expect(result.error == nil, "\(String(describing: result.error))")
        #expect(result.info?.peerVerification == .verified)
        #expect(result.info?.peerLeafCertificate == pki.client.identity.certificateDER)
    }

    @Test(arguments: TestBackends.all)
    func sClientWithoutCertificateIsRefusedByMutualTLSServer(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        var config = TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain)
        config.trustStore = .file(pki.caFile)
        let server = try InProcessServer(config, backend: backend)
        let peer = try PeerProcess(
            "openssl",
            ["s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "localhost", "-CAfile", pki.caFile, "-brief"],
            stdin: Data("no cert\n".utf8))
        peer.finish()
        let result = try #require(server.finish().first)
        #expect(result.error?.code == .certificateVerification)
        #expect(result.error?.verificationFailure?.reason == .noCertificate)
    }

    @Test(arguments: TestBackends.all)
    func tls11ClientIsRefused(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let server = try InProcessServer(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain), backend: backend)
        let peer = try PeerProcess(
            "openssl", ["s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", "-brief"],
            stdin: Data())
        let status = peer.finish()
        #expect(status != 0)
        let result = try #require(server.finish().first)
        #expect(result.error?.code == .handshake)
    }
}
