import TLSKit
import TLSKitTestSupport
import Testing

/// Keys held by a `TLSSigner` (issue 13, item 1): swift-crypto keys in this process stand for
/// a KMS or an enclave. The backend never sees the key, only digests to sign.
@Suite("Custom signers")
struct SignerTests {
    static let versions: [TLSProtocolVersion] = [.tls1_2, .tls1_3]
    static let keyTypes: [TestPKI.KeyType] = [.p256, .rsa2048]

    static func chain(_ identity: TestPKI.Identity, _ signer: SwiftCryptoSigner, name: String = "test-kms") -> TLSSigningChain {
        TLSSigningChain(certificate: .pem(identity.certificatePEM), privateKey: .signer(signer, name: name))
    }

    static func server(_ identity: TestPKI.Identity, _ signer: SwiftCryptoSigner, version: TLSProtocolVersion) -> TLSServerConfiguration {
        var server = TLSServerConfiguration(certificateChain: chain(identity, signer))
        server.maximumVersion = version
        return server
    }

    @Test(arguments: TestBackends.allPairs, [TestPKI.KeyType.p256, .rsa2048])
    func aServerKeyInASignerCompletesHandshakes(pair backends: BackendPair, keyType: TestPKI.KeyType) throws {
        let identity = Fixtures.serverIdentity(keyType)
        for version in Self.versions {
            let signer = try SwiftCryptoSigner(identity)
            let serverContext = try backends.server.make().makeServerContext(Self.server(identity, signer, version: version))
            let atBuild = signer.requests.all.count
            let pair = try ConnectionPair(
                client: backends.client.make().makeClientContext(Fixtures.clientConfig(trusting: Fixtures.rootFor(keyType))),
                server: serverContext, serverName: "localhost")
            #expect(pair.handshake(), "\(version): \(String(describing: pair.serverError)) / \(String(describing: pair.clientError))")
            #expect(pair.client.connectionInfo?.protocolVersion == version)
            #expect(pair.client.connectionInfo?.peerVerification == .verified)
            // The signature came from the signer, with the scheme TLS asks for this key and version.
            let asked = Array(signer.requests.all.dropFirst(atBuild))
            #expect(asked.count == 1, "\(version): \(asked), \(atBuild) at build")
            if keyType == .p256 {
                #expect(asked == [.ecdsaSecp256r1SHA256])
            } else if version == .tls1_3 {
                #expect(asked.allSatisfy { [.rsaPSSRSAESHA256, .rsaPSSRSAESHA384, .rsaPSSRSAESHA512].contains($0) }, "\(asked)")
            }
            #expect(try pair.send(Array("over a signer's key".utf8), from: pair.client) == Array("over a signer's key".utf8))
        }
    }

    @Test(arguments: TestBackends.all, [TestPKI.KeyType.p256, .rsa2048])
    func aClientKeyInASignerAuthenticatesTheClient(backend: BackendUnderTest, keyType: TestPKI.KeyType) throws {
        let identity = try Fixtures.root.issue(commonName: "client-kms", dnsNames: [], ipAddresses: [], keyType: keyType, usage: .client)
        for version in Self.versions {
            let signer = try SwiftCryptoSigner(identity)
            var client = Fixtures.clientConfig()
            client.certificateChain = Self.chain(identity, signer)
            client.maximumVersion = version
            var server = Fixtures.serverConfig()
            server.trustStore = Fixtures.root.trustStore
            server.clientAuthentication = .required
            let made = try backend.make()
            let clientContext = try made.makeClientContext(client)
            let atBuild = signer.requests.all.count
            let pair = try ConnectionPair(client: clientContext, server: made.makeServerContext(server), serverName: "localhost")
            #expect(pair.handshake(), "\(version): \(String(describing: pair.serverError))")
            #expect(pair.server.connectionInfo?.peerVerification == .verified)
            #expect(pair.server.connectionInfo?.peerLeafCertificate == identity.certificateDER)
            #expect(signer.requests.all.count - atBuild == 1, "\(version)")
        }
    }

    @Test(arguments: TestBackends.all, [SwiftCryptoSigner.Fault.flipsABit, .signsWithAnotherKey, .throwsError])
    func aSignerThatSignsWronglyFailsTheHandshakeNamingIt(backend: BackendUnderTest, fault: SwiftCryptoSigner.Fault) throws {
        for keyType in Self.keyTypes {
            for version in Self.versions {
                let identity = Fixtures.serverIdentity(keyType)
                let signer = try SwiftCryptoSigner(identity, fault: fault)
                let made = try backend.make()
                // GnuTLS signs once when the key is set (its key/certificate check) and builds the
                // context even when that signature fails; the handshake's signature is the one that counts.
                let serverContext = try made.makeServerContext(Self.server(identity, signer, version: version))
                let atBuild = signer.requests.all.count
                let pair = try ConnectionPair(
                    client: made.makeClientContext(Fixtures.clientConfig(trusting: Fixtures.rootFor(keyType))),
                    server: serverContext, serverName: "localhost")
                #expect(!pair.handshake(), "\(keyType) \(version)")
                let error = try #require(pair.serverError, "\(keyType) \(version)")
                #expect(error.code == .handshake)
                #expect(error.message.contains("signer 'test-kms'"), "\(error.message)")
                if fault == .throwsError {
                    #expect(error.message.contains("the test signer was told to refuse"), "\(error.message)")
                } else {
                    #expect(error.message.contains("does not verify with its public key"), "\(error.message)")
                }
                #expect(signer.requests.all.count - atBuild == 1)
                // The bad signature never reached the client: it saw the server give up, not a
                // signature that failed to verify.
                if pair.clientError == nil { _ = try? pair.readAll(pair.client) }
                let clientError = try #require(pair.clientError, "\(keyType) \(version)")
                #expect(clientError.code != .certificateVerification, "\(clientError)")
                #expect(!clientError.message.contains("decrypt"), "\(clientError.message)")
            }
        }
    }

    @Test(arguments: TestBackends.all)
    func aSignerForAnotherKeyIsRefusedWhenTheContextIsBuilt(backend: BackendUnderTest) throws {
        let signer = try SwiftCryptoSigner(try Fixtures.root.issue(usage: .server))
        #expect {
            _ = try backend.make().makeServerContext(Self.server(Fixtures.server, signer, version: .tls1_3))
        } throws: { error in
            let error = try #require(error as? TLSError)
            return error.code == .configuration && error.message.contains("the public key of signer 'test-kms' is not the certificate's")
        }
    }

    @Test(arguments: TestBackends.all)
    func onlyTheSchemesASignerListsAreAskedFor(backend: BackendUnderTest) throws {
        // An RSA signer that makes PKCS#1 v1.5 only: TLS 1.2 works with it, TLS 1.3 (PSS only) cannot.
        let identity = Fixtures.rsaServer
        let pkcs1 = try SwiftCryptoSigner(identity, schemes: [.rsaPKCS1SHA256])
        let tls12 = try backend.pair(
            client: Fixtures.clientConfig(trusting: Fixtures.rsaRoot), server: Self.server(identity, pkcs1, version: .tls1_2))
        #expect(tls12.handshake(), "\(String(describing: tls12.serverError))")
        #expect(!pkcs1.requests.all.isEmpty && pkcs1.requests.all.allSatisfy { $0 == .rsaPKCS1SHA256 }, "\(pkcs1.requests.all)")

        var only13 = Self.server(identity, pkcs1, version: .tls1_3)
        only13.minimumVersion = .tls1_3
        let before = pkcs1.requests.all.count
        let tls13 = try backend.pair(client: Fixtures.clientConfig(trusting: Fixtures.rsaRoot), server: only13)
        #expect(!tls13.handshake())
        // OpenSSL names the missing signature algorithm; GnuTLS finds no suite it could sign for.
        #expect(tls13.serverError?.code == .handshake)
        #expect(tls13.clientError?.alert == .handshakeFailure)
        #expect(
            pkcs1.requests.all.dropFirst(before).allSatisfy { $0 == .rsaPKCS1SHA256 },
            "the TLS 1.3 handshake must not ask for a scheme the signer does not list: \(pkcs1.requests.all)")

        // And one that makes PSS with SHA-384 only is asked for exactly that, in both versions.
        for version in Self.versions {
            let pss384 = try SwiftCryptoSigner(identity, schemes: [.rsaPSSRSAESHA384])
            let pair = try backend.pair(
                client: Fixtures.clientConfig(trusting: Fixtures.rsaRoot), server: Self.server(identity, pss384, version: version))
            #expect(pair.handshake(), "\(version): \(String(describing: pair.serverError))")
            #expect(!pss384.requests.all.isEmpty && pss384.requests.all.allSatisfy { $0 == .rsaPSSRSAESHA384 }, "\(version): \(pss384.requests.all)")
        }
    }

    @Test(arguments: TestBackends.all)
    func aSignerWithNoUsableSchemeIsRefused(backend: BackendUnderTest) throws {
        let signer = try SwiftCryptoSigner(Fixtures.server, schemes: [.ed25519])
        #expect {
            _ = try backend.make().makeServerContext(Self.server(Fixtures.server, signer, version: .tls1_3))
        } throws: { error in
            let error = try #require(error as? TLSError)
            return error.code == .configuration && error.message.contains("signer 'test-kms' lists no scheme")
        }
    }

    @Test func aSignerKeyDescribesItselfByNameAndComparesByIdentity() throws {
        let signer = try SwiftCryptoSigner(Fixtures.server)
        let key = TLSPrivateKey.signer(signer, name: "kms:prod")
        #expect(key.description == "TLSPrivateKey(signer 'kms:prod')")
        #expect(key == key)
        #expect(key != TLSPrivateKey.signer(signer, name: "kms:prod"))
    }
}
