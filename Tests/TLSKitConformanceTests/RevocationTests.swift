import Foundation
import SwiftASN1
import TLSKit
import TLSKitTestSupport
import Testing

/// CRLs: a revoked server certificate is refused as `revoked`; others still pass.
@Suite("Revocation (CRLs)")
struct RevocationTests {
    /// Makes a CRL from `authority` (default: the conformance root) that revokes
    /// `identities`, with the openssl CLI.
    static func crl(by authority: TestPKI.Authority = Fixtures.root, revoking identities: [TestPKI.Identity]) throws -> String {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        try authority.identity.certificate.serializeAsPEM().pemString.write(toFile: path("ca.pem"), atomically: true, encoding: .utf8)
        try authority.identity.privateKeyPEM.write(toFile: path("ca.key"), atomically: true, encoding: .utf8)
        try "".write(toFile: path("index.txt"), atomically: true, encoding: .utf8)
        try "01\n".write(toFile: path("crlnumber"), atomically: true, encoding: .utf8)
        let config =
            "[ca]\ndefault_ca = d\n[d]\ndatabase = \(path("index.txt"))\ncrlnumber = \(path("crlnumber"))\ndefault_md = sha256\ndefault_crl_days = 30\n"
        try config.write(toFile: path("ca.cnf"), atomically: true, encoding: .utf8)
        let common = ["-config", path("ca.cnf"), "-keyfile", path("ca.key"), "-cert", path("ca.pem")]
        for (i, identity) in identities.enumerated() {
            try identity.certificatePEM.write(toFile: path("revoked\(i).pem"), atomically: true, encoding: .utf8)
            try #require(try Tools.run("openssl", ["ca"] + common + ["-revoke", path("revoked\(i).pem")]) == 0)
        }
        try #require(try Tools.run("openssl", ["ca"] + common + ["-gencrl", "-out", path("crl.pem")]) == 0)
        return try String(contentsOfFile: path("crl.pem"), encoding: .utf8)
    }

    @Test(arguments: TestBackends.all)
    func aRevokedServerCertificateIsRefused(backend: BackendUnderTest) throws {
        let revoked = try Fixtures.root.issue(usage: .server)
        var client = Fixtures.clientConfig()
        client.revocationLists = [.pem(try Self.crl(revoking: [revoked]))]

        let refused = try backend.pair(client: client, server: Fixtures.serverConfig(revoked))
        #expect(!refused.handshake())
        #expect(refused.clientError?.verificationFailure?.reason == .revoked, "\(String(describing: refused.clientError))")

        let fine = try backend.pair(client: client, server: Fixtures.serverConfig())
        #expect(fine.handshake(), "\(String(describing: fine.clientError))")
    }

    @Test(arguments: TestBackends.all)
    func aDamagedCRLIsAConfigurationError(backend: BackendUnderTest) throws {
        var client = Fixtures.clientConfig()
        client.revocationLists = [.pem("-----BEGIN X509 CRL-----\nnot base64\n-----END X509 CRL-----\n")]
        let error = #expect(throws: TLSError.self) { _ = try backend.make().makeClientContext(client) }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("revocationLists") == true)
    }
}
