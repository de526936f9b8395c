import Foundation
import TLSKit
import TLSKitTestSupport

/// Certificates shared by the conformance tests (made once per test process).
enum Fixtures {
    static let root = try! TestPKI.Authority.root(name: "Conformance Root")
    static let rsaRoot = try! TestPKI.Authority.root(name: "Conformance RSA Root", keyType: .rsa2048)
    static let otherRoot = try! TestPKI.Authority.root(name: "Untrusted Root")
    static let server = try! root.issue(usage: .server)
    static let rsaServer = try! rsaRoot.issue(keyType: .rsa2048, usage: .server)
    static let client = try! root.issue(commonName: "client-1", dnsNames: ["client-1.test"], ipAddresses: [], usage: .client)

    static func serverIdentity(_ keyType: TestPKI.KeyType) -> TestPKI.Identity {
        keyType == .p256 ? server : rsaServer
    }
    static func rootFor(_ keyType: TestPKI.KeyType) -> TestPKI.Authority { keyType == .p256 ? root : rsaRoot }

    /// A client configuration trusting `root` (default: the conformance root).
    static func clientConfig(trusting authority: TestPKI.Authority = root) -> TLSClientConfiguration {
        TLSClientConfiguration(trustStore: authority.trustStore)
    }

    static func serverConfig(_ identity: TestPKI.Identity = server) -> TLSServerConfiguration {
        TLSServerConfiguration(certificateChain: identity.signingChain)
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tlskit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

extension BackendUnderTest {
    /// Builds a pair of connections from two configurations.
    func pair(
        client: TLSClientConfiguration, server: TLSServerConfiguration, serverName: String = "localhost"
    ) throws -> ConnectionPair {
        let backend = try make()
        return try ConnectionPair(
            client: backend.makeClientContext(client), server: backend.makeServerContext(server),
            serverName: serverName)
    }
}
