import Foundation
import TLSKit
import TLSKitTestSupport
import Testing

/// The security properties: every way a handshake must fail, fails, with a reason.
@Suite("Negative: verification and negotiation")
struct NegativeTests {
    @Test(arguments: TestBackends.all)
    func wrongHostNameIsRejected(backend: BackendUnderTest) throws {
        let pair = try backend.pair(client: Fixtures.clientConfig(), server: Fixtures.serverConfig(), serverName: "example.com")
        #expect(!pair.handshake())
        let error = try #require(pair.clientError)
        #expect(error.code == .certificateVerification)
        #expect(error.verificationFailure?.reason == .hostnameMismatch)
        #expect(error.verificationFailure?.expectedName == "example.com")
        #expect(error.message.contains("example.com"))
        // The server learns why from the client's alert.
        #expect(pair.serverError?.code == .alertReceived)
        #expect(pair.client.connectionInfo == nil)
    }

    @Test(arguments: TestBackends.all)
    func commonNameIsNeverUsedAsAHostName(backend: BackendUnderTest) throws {
        let cnOnly = try Fixtures.root.issue(commonName: "localhost", dnsNames: [], ipAddresses: [], usage: .server)
        let pair = try backend.pair(client: Fixtures.clientConfig(), server: Fixtures.serverConfig(cnOnly))
        #expect(!pair.handshake())
        #expect(pair.clientError?.verificationFailure?.reason == .hostnameMismatch)
    }

    @Test(arguments: TestBackends.all)
    func untrustedRootIsRejected(backend: BackendUnderTest) throws {
        let pair = try backend.pair(client: Fixtures.clientConfig(trusting: Fixtures.otherRoot), server: Fixtures.serverConfig())
        #expect(!pair.handshake())
        let error = try #require(pair.clientError)
        #expect(error.code == .certificateVerification)
        #expect(error.verificationFailure?.reason == .unknownIssuer)
        #expect(error.message.contains("trust"))
    }

    @Test(arguments: TestBackends.all)
    func selfSignedServerIsRejectedBySystemTrust(backend: BackendUnderTest) throws {
        let pair = try backend.pair(client: TLSClientConfiguration(), server: Fixtures.serverConfig(try TestPKI.selfSignedLeaf()))
        #expect(!pair.handshake())
        #expect(pair.clientError?.code == .certificateVerification)
        #expect([.selfSigned, .unknownIssuer].contains(pair.clientError?.verificationFailure?.reason))
    }

    @Test(arguments: TestBackends.all)
    func expiredCertificateIsRejected(backend: BackendUnderTest) throws {
        let expired = try Fixtures.root.issue(
            usage: .server, notBefore: Date().addingTimeInterval(-86_400 * 10), notAfter: Date().addingTimeInterval(-86_400))
        let pair = try backend.pair(client: Fixtures.clientConfig(), server: Fixtures.serverConfig(expired))
        #expect(!pair.handshake())
        #expect(pair.clientError?.verificationFailure?.reason == .expired)
    }

    @Test(arguments: TestBackends.all)
    func notYetValidCertificateIsRejected(backend: BackendUnderTest) throws {
        let future = try Fixtures.root.issue(
            usage: .server, notBefore: Date().addingTimeInterval(86_400), notAfter: Date().addingTimeInterval(86_400 * 10))
        let pair = try backend.pair(client: Fixtures.clientConfig(), server: Fixtures.serverConfig(future))
        #expect(!pair.handshake())
        #expect(pair.clientError?.verificationFailure?.reason == .notYetValid)
    }

    @Test(arguments: TestBackends.all)
    func clientOnlyCertificateCannotServe(backend: BackendUnderTest) throws {
        let clientOnly = try Fixtures.root.issue(usage: .client)
        let pair = try backend.pair(client: Fixtures.clientConfig(), server: Fixtures.serverConfig(clientOnly))
        #expect(!pair.handshake())
        #expect(pair.clientError?.verificationFailure?.reason == .unsuitableUsage)
    }

    @Test(arguments: TestBackends.all)
    func versionMismatchFailsOnBothSides(backend: BackendUnderTest) throws {
        var client = Fixtures.clientConfig()
        client.maximumVersion = .tls1_2
        var server = Fixtures.serverConfig()
        server.minimumVersion = .tls1_3
        let pair = try backend.pair(client: client, server: server)
        #expect(!pair.handshake())
        #expect(pair.serverError?.code == .handshake, "\(String(describing: pair.serverError))")
        #expect(pair.serverError?.message.contains("version") == true, "\(String(describing: pair.serverError))")
        #expect(pair.clientError?.code == .alertReceived)
        // OpenSSL sends protocol_version, GnuTLS handshake_failure.
        #expect([.protocolVersion, .handshakeFailure].contains(pair.clientError?.alert))
    }

    @Test(arguments: TestBackends.all)
    func alpnMismatchIsFatal(backend: BackendUnderTest) throws {
        var client = Fixtures.clientConfig()
        client.applicationProtocols = ["imap"]
        var server = Fixtures.serverConfig()
        server.applicationProtocols = [.http2]
        let pair = try backend.pair(client: client, server: server)
        #expect(!pair.handshake())
        #expect(pair.clientError?.alert == .noApplicationProtocol)
        #expect(pair.clientError?.code == .alertReceived)
        #expect(pair.serverError != nil)
    }

    @Test(arguments: TestBackends.all)
    func noSharedCipherSuiteFails(backend: BackendUnderTest) throws {
        var client = Fixtures.clientConfig()
        client.maximumVersion = .tls1_2
        client.cipherSuites = [.ecdheRSAWithAES128GCMSHA256]  // RSA suite, ECDSA server certificate
        let pair = try backend.pair(client: client, server: Fixtures.serverConfig())
        #expect(!pair.handshake())
        #expect(pair.serverError?.code == .handshake)
        #expect(pair.clientError?.code == .alertReceived)
    }
}

@Suite("Negative: certificate damage")
struct CertificateDamageTests {
    @Test(arguments: TestBackends.all)
    func aBrokenSignatureIsRejectedAsSuch(backend: BackendUnderTest) throws {
        var der = Fixtures.server.certificateDER
        der[der.count - 5] ^= 0x5A  // inside the signature value
        let pem =
            "-----BEGIN CERTIFICATE-----\n" + Data(der).base64EncodedString(options: .lineLength64Characters)
            + "\n-----END CERTIFICATE-----\n"
        let server = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .pem(pem), privateKey: .pem(Fixtures.server.privateKeyPEM)))
        let pair = try backend.pair(client: Fixtures.clientConfig(), server: server)
        #expect(!pair.handshake())
        #expect(pair.clientError?.code == .certificateVerification)
        #expect(pair.clientError?.verificationFailure?.reason == .badSignature)
    }
}

@Suite("Negative: chain length")
struct ChainLengthTests {
    @Test(arguments: TestBackends.all)
    func aChainLongerThanAllowedIsRejected(backend: BackendUnderTest) throws {
        let intermediate = try Fixtures.root.intermediate()
        let leaf = try intermediate.issue(usage: .server)  // leaf, intermediate, root: 3
        var fits = Fixtures.clientConfig()
        fits.maximumChainLength = 3
        let ok = try backend.pair(client: fits, server: Fixtures.serverConfig(leaf))
        #expect(ok.handshake(), "\(String(describing: ok.clientError))")

        var short = Fixtures.clientConfig()
        short.maximumChainLength = 2
        let refused = try backend.pair(client: short, server: Fixtures.serverConfig(leaf))
        #expect(!refused.handshake())
        #expect(refused.clientError?.code == .certificateVerification)
        #expect(refused.clientError?.verificationFailure?.reason == .chainTooLong, "\(String(describing: refused.clientError))")
    }
}
