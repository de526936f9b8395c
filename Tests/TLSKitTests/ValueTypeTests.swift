@_spi(Testing) import TLSKit
import Testing

@Suite("Server names")
struct ServerNameTests {
    @Test func dnsNamesAreNormalised() throws {
        let name = try TLSServerName("WWW.Example.COM.")
        #expect(name.dnsName == "www.example.com")
        #expect(name.ipAddress == nil)
        #expect(name.description == "www.example.com")
    }

    @Test func ipAddressesAreRecognised() throws {
        #expect(try TLSServerName("127.0.0.1").ipAddress == [127, 0, 0, 1])
        #expect(try TLSServerName("::1").ipAddress?.count == 16)
        #expect(try TLSServerName("[2001:db8::1]").description == "2001:db8::1")
        #expect(try TLSServerName("127.0.0.1").dnsName == nil)
    }

    @Test(arguments: ["", "exa mple.com", "-bad.com", "bad-.com", "a..b", "bücher.de", String(repeating: "a", count: 64) + ".com"])
    func invalidNamesAreRejectedWithAReason(text: String) {
        let error = #expect(throws: TLSError.self) { _ = try TLSServerName(text) }
        #expect(error?.code == .configuration)
        #expect(error?.feature == "serverName")
        #expect(error?.message.contains("not a valid host name") == true)
    }

    @Test func punycodeIsAccepted() throws {
        #expect(try TLSServerName("xn--bcher-kva.de").dnsName == "xn--bcher-kva.de")
    }
}

@Suite("Registries")
struct RegistryTests {
    @Test func cipherSuitesPrintIANANamesAndKeepUnknownCodes() {
        #expect(TLSCipherSuite.tlsAES128GCMSHA256.description == "TLS_AES_128_GCM_SHA256")
        #expect(TLSCipherSuite(rawValue: 0xC02B) == .ecdheECDSAWithAES128GCMSHA256)
        #expect(TLSCipherSuite(rawValue: 0xABCD).description == "0xABCD")
        #expect(TLSCipherSuite(ianaName: "tls_chacha20_poly1305_sha256") == .tlsCHACHA20POLY1305SHA256)
        #expect(TLSCipherSuite.tlsAES256GCMSHA384.isTLS13)
        #expect(!TLSCipherSuite.ecdheRSAWithAES128GCMSHA256.isTLS13)
    }

    @Test func versionsParseAndOrder() {
        #expect(TLSProtocolVersion("1.3") == .tls1_3)
        #expect(TLSProtocolVersion("TLSv1.2") == .tls1_2)
        #expect(TLSProtocolVersion("1.4") == nil)
        #expect(TLSProtocolVersion.tls1_2 < .tls1_3)
        #expect(TLSProtocolVersion(rawValue: 0x7F1C).description == "0x7F1C")
    }

    @Test func groupsSignatureSchemesAlertsAndALPN() {
        #expect(TLSNamedGroup(name: "P-256") == .secp256r1)
        #expect(TLSNamedGroup(name: "X25519") == .x25519)
        #expect(TLSNamedGroup(rawValue: 999).description == "group(999)")
        #expect(TLSSignatureScheme.ecdsaSecp256r1SHA256.description == "ecdsa_secp256r1_sha256")
        #expect(TLSAlert.unknownCA.description == "unknown_ca")
        #expect(TLSAlert(rawValue: 200).description == "alert(200)")
        #expect(TLSApplicationProtocol.http2.bytes == Array("h2".utf8))
        let empty = ""  // a variable: a literal would select init(stringLiteral:)
        #expect(TLSApplicationProtocol(empty) == nil)
        #expect(TLSApplicationProtocol(String(repeating: "x", count: 256)) == nil)
        #expect(TLSApplicationProtocol.wireFormat([.http2, .http1_1]) == [2] + Array("h2".utf8) + [8] + Array("http/1.1".utf8))
    }
}

@Suite("Errors")
struct ErrorTests {
    @Test func equalityComparesTheCodeOnly() {
        let a = TLSError(.raggedEOF, "one message")
        let b = TLSError(.raggedEOF, "another", backendErrors: ["x"])
        #expect(a == b)
        #expect(a != TLSError(.closed))
        #expect(Set([a, b]).count == 1)
    }

    @Test func unsupportedNamesBackendAndFeature() {
        let error = TLSError.unsupported(backend: "gnutls", feature: "keyIdentifiers", "TPM 2.0 keys need tpm2-pkcs11")
        #expect(error.code == .unsupportedFeature)
        #expect(error.backend == "gnutls")
        #expect(error.feature == "keyIdentifiers")
        #expect(error.description.contains("the gnutls backend does not support keyIdentifiers"))
        #expect(error.location.contains("ValueTypeTests.swift"))
    }
}

@Suite("Configurations")
struct ConfigurationTests {
    @Test func clientDefaultsAreSecure() throws {
        let config = TLSClientConfiguration()
        #expect(config.trustStore == .system)
        #expect(config.securityPolicy == .systemDefault)
        #expect(config.certificateChain == nil)
        #expect(config.applicationProtocols.isEmpty)
        #expect(try config.effectiveVersionRange() == TLSProtocolVersion.tls1_2...TLSProtocolVersion.tls1_3)
        try config.validateBackendNeutral()
    }

    @Test func policiesBoundVersions() throws {
        var modern = TLSClientConfiguration()
        modern.securityPolicy = .modern
        #expect(try modern.effectiveVersionRange() == TLSProtocolVersion.tls1_3...TLSProtocolVersion.tls1_3)
        modern.minimumVersion = .tls1_2
        #expect(throws: TLSError(.configuration)) { try modern.effectiveVersionRange() }

        var legacy = TLSClientConfiguration()
        legacy.minimumVersion = .tls1_1
        let error = #expect(throws: TLSError.self) { try legacy.effectiveVersionRange() }
        #expect(error?.message.contains(".compatible") == true)
        legacy.securityPolicy = .compatible
        #expect(try legacy.effectiveVersionRange().lowerBound == .tls1_1)
        #expect(try TLSClientConfiguration(trustStore: .system).effectiveVersionRange().lowerBound == .tls1_2)
    }

    @Test func serverClientAuthenticationFollowsTheTrustStore() throws {
        let chain = TLSSigningChain(certificate: .file("c.pem"), privateKey: .file("k.pem"))
        var server = TLSServerConfiguration(certificateChain: chain)
        #expect(server.effectiveClientAuthentication == .none)
        server.trustStore = .file("ca.pem")
        #expect(server.effectiveClientAuthentication == .required)
        server.clientAuthentication = .optional
        #expect(server.effectiveClientAuthentication == .optional)
        try server.validateBackendNeutral()
        server.trustStore = nil
        #expect(throws: TLSError(.configuration)) { try server.validateBackendNeutral() }
    }

    @Test func configurationsAreHashableValues() {
        var a = TLSClientConfiguration()
        var b = TLSClientConfiguration()
        #expect(a == b)
        a.applicationProtocols = [.http2]
        #expect(a != b)
        b.applicationProtocols = [.http2]
        #expect(Set([a, b]).count == 1)
    }
}

@Suite("Secrets")
struct SecretTests {
    @Test func privateKeysNeverPrintTheirBytesOrPIN() {
        let pem = "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n"
        let key = TLSPrivateKey.pem(pem)
        #expect(!key.description.contains("SECRET"))
        #expect(!"\(key)".contains("SECRET"))
        let token = TLSPrivateKey.identifier("pkcs11:token=t;object=k;pin-value=123456;type=private")
        #expect(!token.description.contains("123456"))
        #expect(token.description.contains("pin-value=***"))
        #expect(!TLSPassphrase.text("hunter2").description.contains("hunter2"))
    }

    @Test func secureBytesAreZeroedWhenReleased() {
        let observer = TLSSecureBytes.Observer()
        do {
            let secret = TLSSecureBytes(utf8: "do not keep me")
            secret.attach(observer)
            let copy = secret
            #expect(copy == TLSSecureBytes(utf8: "do not keep me"))
            #expect(copy.count == 14)
        }
        #expect(observer.wasZeroed)
    }

    @Test func backendOptionsAreTypedAndScoped() {
        enum Level: TLSBackendOptionKey {
            typealias Value = Int
            static let backendName = "example"
        }
        var options = TLSBackendOptions()
        #expect(options[Level.self] == nil)
        options[Level.self] = 3
        #expect(options[Level.self] == 3)
        #expect(options.keys(forBackend: "example").count == 1)
        #expect(options.keys(forBackend: "openssl").isEmpty)
        options[Level.self] = nil
        #expect(options.isEmpty)
    }
}
