import Foundation
@_spi(Testing) import TLSKit
import TLSKitTestSupport
import Testing

/// Bad configuration fails when the context is built, with a message that names the field
/// and the fix.
@Suite("Negative: configuration and credentials")
struct ConfigurationErrorTests {
    @Test(arguments: TestBackends.all)
    func malformedPEMCertificate(backend: BackendUnderTest) throws {
        let damaged = "-----BEGIN CERTIFICATE-----\nMIIB!!!not base64!!!\n-----END CERTIFICATE-----\n"
        let config = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .pem(damaged), privateKey: .pem(Fixtures.server.privateKeyPEM)))
        let error = #expect(throws: TLSError.self) { _ = try backend.make().makeServerContext(config) }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("certificateChains[0].certificate") == true)
        #expect(error?.message.contains("damaged") == true)
    }

    @Test(arguments: TestBackends.all)
    func garbageBytesAsCertificate(backend: BackendUnderTest) throws {
        let config = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .der([0x30, 0x03, 0x02, 0x01]), privateKey: .pem(Fixtures.server.privateKeyPEM)))
        let error = #expect(throws: TLSError.self) { _ = try backend.make().makeServerContext(config) }
        #expect(error?.code == .configuration)
    }

    @Test(arguments: TestBackends.all)
    func swappedCertificateAndKeyAreNamed(backend: BackendUnderTest) throws {
        let config = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .pem(Fixtures.server.privateKeyPEM), privateKey: .pem(Fixtures.server.certificatePEM)))
        let error = #expect(throws: TLSError.self) { _ = try backend.make().makeServerContext(config) }
        #expect(error?.message.contains("swapped") == true)
    }

    @Test(arguments: TestBackends.all)
    func missingFilesAreNamed(backend: BackendUnderTest) throws {
        let config = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .file("/nonexistent/cert.pem"), privateKey: .file("/nonexistent/key.pem")))
        let error = #expect(throws: TLSError.self) { _ = try backend.make().makeServerContext(config) }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("/nonexistent/cert.pem does not exist") == true)

        var client = TLSClientConfiguration(trustStore: .file("/nonexistent/ca.pem"))
        client.serverName = try TLSServerName("localhost")
        let trustError = #expect(throws: TLSError.self) { _ = try backend.make().makeClientContext(client) }
        #expect(trustError?.message.contains("/nonexistent/ca.pem") == true)
    }

    @Test(arguments: TestBackends.all)
    func keyThatDoesNotMatchTheCertificate(backend: BackendUnderTest) throws {
        let other = try Fixtures.root.issue()
        let config = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .pem(Fixtures.server.certificatePEM), privateKey: .pem(other.privateKeyPEM)))
        let error = #expect(throws: TLSError.self) { _ = try backend.make().makeServerContext(config) }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("does not match") == true)
    }

    @Test(arguments: TestBackends.all)
    func encryptedKeyNeedsItsPassphrase(backend: BackendUnderTest) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = dir.appendingPathComponent("plain.key").path
        let encrypted = dir.appendingPathComponent("enc.key").path
        try Fixtures.server.privateKeyPEM.write(toFile: plain, atomically: true, encoding: .utf8)
        let status = try Tools.run(
            "openssl", ["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", plain, "-out", encrypted, "-passout", "pass:s3cret"])
        try #require(status == 0)
        let cert = TLSCertificate.pem(Fixtures.server.certificatePEM)

        let noPass = TLSServerConfiguration(certificateChain: TLSSigningChain(certificate: cert, privateKey: .file(encrypted)))
        let missing = #expect(throws: TLSError.self) { _ = try backend.make().makeServerContext(noPass) }
        #expect(missing?.message.contains("encrypted") == true)

        let wrong = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: cert, privateKey: .file(encrypted, passphrase: .text("wrong"))))
        let wrongError = #expect(throws: TLSError.self) { _ = try backend.make().makeServerContext(wrong) }
        #expect(wrongError?.message.contains("passphrase") == true)

        let right = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: cert, privateKey: .file(encrypted, passphrase: .text("s3cret"))))
        let pair = try backend.pair(client: Fixtures.clientConfig(), server: right)
        #expect(pair.handshake())
    }

    @Test(arguments: TestBackends.all)
    func credentialsFromFilesAndFileURIs(backend: BackendUnderTest) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let paths = try Fixtures.server.write(to: dir, name: "server")
        let caPath = dir.appendingPathComponent("ca.pem").path
        try Fixtures.root.certificatePEM.write(toFile: caPath, atomically: true, encoding: .utf8)
        let server = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .file(paths.certificate), privateKey: .identifier("file:" + paths.key)))
        let pair = try backend.pair(client: TLSClientConfiguration(trustStore: .file(caPath)), server: server)
        #expect(pair.handshake(), "\(String(describing: pair.clientError))")
    }

    @Test(arguments: TestBackends.all)
    func identifierWithAnUnknownSchemeNamesTheProvider(backend: BackendUnderTest) throws {
        let config = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .pem(Fixtures.server.certificatePEM),
                privateKey: .identifier("pkcs11:token=none;object=key;pin-value=1234")))
        let error = #expect(throws: TLSError.self) { _ = try backend.make().makeServerContext(config) }
        #expect(error?.code == .configuration || error?.code == .unsupportedFeature)
        #expect(error?.message.contains("pkcs11") == true)
        #expect(error?.message.contains("1234") == false)  // PINs are never printed
    }

    @Test(arguments: TestBackends.all)
    func clientWithoutServerNameCannotConnect(backend: BackendUnderTest) throws {
        let context = try backend.make().makeClientContext(Fixtures.clientConfig())
        let error = #expect(throws: TLSError.self) { _ = try context.makeConnection() }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("serverName") == true)
    }

    @Test(arguments: TestBackends.all)
    func contradictoryFieldsAreRejectedEarly(backend: BackendUnderTest) throws {
        let b = try backend.make()
        var inverted = Fixtures.clientConfig()
        inverted.minimumVersion = .tls1_3
        inverted.maximumVersion = .tls1_2
        #expect(throws: TLSError(.configuration)) { try b.validate(inverted) }

        var modernOld = Fixtures.clientConfig()
        modernOld.securityPolicy = .modern
        modernOld.maximumVersion = .tls1_2
        #expect(throws: TLSError(.configuration)) { try b.validate(modernOld) }

        var tls10 = Fixtures.clientConfig()
        tls10.minimumVersion = .tls1_0
        #expect(throws: TLSError(.configuration)) { try b.validate(tls10) }

        var unknownSuite = Fixtures.clientConfig()
        unknownSuite.cipherSuites = [TLSCipherSuite(rawValue: 0xFFEE), .tlsAES128GCMSHA256]
        let unsupported = #expect(throws: TLSError.self) { try b.validate(unknownSuite) }
        #expect(unsupported?.code == .unsupportedFeature)
        #expect(unsupported?.feature == "cipherSuites")

        var only13 = Fixtures.clientConfig()
        only13.cipherSuites = [.tlsAES128GCMSHA256]
        #expect(throws: TLSError(.configuration)) { try b.validate(only13) }

        var pq = Fixtures.clientConfig()
        pq.keyExchangeGroups = [TLSNamedGroup(rawValue: 0x11EC)]
        #expect(throws: TLSError(.unsupportedFeature)) { try b.validate(pq) }

        var server = Fixtures.serverConfig()
        server.clientAuthentication = .required
        #expect(throws: TLSError(.configuration)) { try b.validate(server) }
        #expect(throws: TLSError(.configuration)) { try b.validate(TLSServerConfiguration(certificateChains: [])) }
    }

    @Test(arguments: TestBackends.all)
    func keyBytesAreZeroedAfterTheContextIsBuilt(backend: BackendUnderTest) throws {
        let observer = TLSSecureBytes.Observer()
        do {
            let secret = TLSSecureBytes(utf8: Fixtures.server.privateKeyPEM)
            secret.attach(observer)
            let config = TLSServerConfiguration(
                certificateChain: TLSSigningChain(
                    certificate: .pem(Fixtures.server.certificatePEM), privateKey: TLSPrivateKey(.pem(secret))))
            let context = try backend.make().makeServerContext(config)
            // The context keeps the parsed key inside the backend, not our bytes.
            _ = try context.makeConnection()
        }
        #expect(observer.wasZeroed)
    }
}
