import Foundation
import TLSKit
import TLSKitIO
import TLSKitTestSupport
import Testing

/// Every backend's server against `gnutls-cli` (an implementation independent of OpenSSL).
/// Our clients against `gnutls-serv` run in IntegrationTests/cli.sh, inside a private
/// network namespace, because gnutls-serv cannot be bound to loopback only.
@Suite("Interop: gnutls-cli", .serialized)
struct GnuTLSToolInteropTests {
    @Test(arguments: TestBackends.all, ["1.2", "1.3"])
    func gnutlsCliAgainstServer(backend: BackendUnderTest, version: String) throws {
        let pki = InteropPKI.shared
        for keyType in TestPKI.KeyType.allCases {
            let identity = pki.server(keyType)
            var config = TLSServerConfiguration(certificateChain: identity.identity.signingChain)
            config.applicationProtocols = [.http2, .http1_1]
            let server = try InProcessServer(config, backend: backend, lineMode: true)
            let peer = try PeerProcess(
                "gnutls-cli",
                [
                    "--port", "\(server.port)", "127.0.0.1", "--verify-hostname", "localhost", "--x509cafile", identity.caFile,
                    "--priority", "NORMAL:-VERS-ALL:+VERS-TLS\(version)", "--alpn", "http/1.1",
                ],
                stdin: Data("hello from gnutls-cli\n".utf8))
            let status = peer.finish()
            let result = try #require(server.finish().first)
            #expect(result.error == nil, "\(keyType): \(String(describing: result.error)) / \(peer.standardError)")
            #expect(result.info?.protocolVersion == TLSProtocolVersion(version), "\(keyType)")
            #expect(result.info?.applicationProtocol == .http1_1, "\(keyType)")
            #expect(String(decoding: result.received, as: UTF8.self) == "hello from gnutls-cli\n", "\(keyType)")
            #expect(peer.standardOutput.contains("hello from gnutls-cli"), "\(keyType): \(peer.standardOutput)")
            #expect(status == 0, "\(keyType): \(peer.standardError)")
        }
    }

    @Test(arguments: TestBackends.all)
    func gnutlsCliRejectsAServerWithTheWrongName(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let server = try InProcessServer(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain), backend: backend)
        let peer = try PeerProcess(
            "gnutls-cli",
            ["--port", "\(server.port)", "127.0.0.1", "--verify-hostname", "wrong.example", "--x509cafile", pki.caFile],
            stdin: Data())
        #expect(peer.finish() != 0)
        #expect(
            peer.standardError.contains("not trusted") || peer.standardOutput.contains("not trusted")
                || peer.standardOutput.contains("does not match"),
            "\(peer.standardOutput) \(peer.standardError)")
        let result = try #require(server.finish().first)
        #expect(result.error != nil)
    }
}
