import Crypto
import Foundation
import SwiftASN1
import Synchronization
import TLSKit
import TLSKitInsecure
import TLSKitTestSupport
import TLSKitX509
import Testing
import X509

/// Verification that no path bypasses: policies with chain checks off, pinned keys, the
/// verified chain on both backends, chain length, CRLs of intermediates, and resumption.
@Suite("Verification on every path")
struct VerificationPathTests {
    static let intermediate = try! Fixtures.root.intermediate(name: "Path Intermediate")
    static let leafUnderIntermediate = try! intermediate.issue(usage: .server)
    static let secondRoot = try! TestPKI.Authority.root(name: "Second Trusted Root")

    // MARK: 1. Policies run when chain verification is off

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func aPolicyRejectsEvenWhenChainVerificationIsOff(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        let selfSigned = try TestPKI.selfSignedLeaf()
        var client = TLSClientConfiguration(trustStore: Fixtures.root.trustStore)
        client.insecurelyDisableCertificateVerification()
        client.maximumVersion = version
        let b = try backend.make()
        let seen = Mutex<[TLSPeerVerification]>([])
        let hooks = TLSContextHooks(verifyPeer: { request in
            seen.withLock { $0.append(request.backendVerification) }
            return request.peerCertificates.first == Fixtures.server.certificateDER ? .accept : .reject("not the pinned certificate")
        })
        let context = try b.makeClientContext(client, hooks: hooks)
        let refused = try ConnectionPair(client: context, server: b.makeServerContext(Fixtures.serverConfig(selfSigned)))
        #expect(!refused.handshake())
        #expect(refused.clientError?.verificationFailure?.reason == .rejectedByHook)
        #expect(refused.clientError?.message.contains("not the pinned certificate") == true)
        if refused.serverError == nil { _ = try? refused.readAll(refused.server) }
        #expect(refused.serverError?.code == .alertReceived, "the server is told with an alert")

        let accepted = try ConnectionPair(client: context, server: b.makeServerContext(Fixtures.serverConfig()))
        #expect(accepted.handshake())
        #expect(seen.withLock { $0 } == [.insecurelySkipped, .insecurelySkipped])
    }

    @Test(arguments: TestBackends.all)
    func webPKIRejectsAChainTheBackendDidNotVerify(backend: BackendUnderTest) throws {
        var client = TLSClientConfiguration(trustStore: Fixtures.root.trustStore)
        client.insecurelyDisableCertificateVerification()
        let b = try backend.make()
        let pair = try ConnectionPair(
            client: b.makeClientContext(client, hooks: .webPKI()),
            server: b.makeServerContext(Fixtures.serverConfig(try TestPKI.selfSignedLeaf())))
        #expect(!pair.handshake())
        let error = try #require(pair.clientError)
        #expect(error.verificationFailure?.reason == .rejectedByHook)
        #expect(error.message.contains("webPKI") && error.message.contains("did not verify the chain"), "\(error)")
    }

    // MARK: 7. Policies compose

    @Test(arguments: TestBackends.all)
    func policiesRunInOrderAndTheFirstRejectionIsNamed(backend: BackendUnderTest) throws {
        let ran = Mutex<[String]>([])
        var hooks = TLSContextHooks.webPKI()
        hooks.addVerificationPolicy(
            TLSVerificationPolicy(name: "first") { _ in
                ran.withLock { $0.append("first") }
                return .accept
            })
        hooks.addVerificationPolicy(
            TLSVerificationPolicy(name: "deny-list") { _ in
                ran.withLock { $0.append("deny") }
                return .reject("listed")
            })
        hooks.verifyPeer = { _ in
            ran.withLock { $0.append("hook") }
            return .accept
        }
        let b = try backend.make()
        let pair = try ConnectionPair(
            client: b.makeClientContext(Fixtures.clientConfig(), hooks: hooks), server: b.makeServerContext(Fixtures.serverConfig()))
        #expect(!pair.handshake())
        #expect(ran.withLock { $0 } == ["first", "deny"], "webPKI accepted, then first, then the deny-list stopped it")
        #expect(pair.clientError?.message.contains("verification policy 'deny-list': listed") == true)

        // webPKI() and a hook both run: the hook is no longer replaced.
        ran.withLock { $0 = [] }
        var both = TLSContextHooks.webPKI()
        both.verifyPeer = { _ in
            ran.withLock { $0.append("hook") }
            return .reject("hook says no")
        }
        let second = try ConnectionPair(
            client: b.makeClientContext(Fixtures.clientConfig(), hooks: both), server: b.makeServerContext(Fixtures.serverConfig()))
        #expect(!second.handshake())
        #expect(ran.withLock { $0 } == ["hook"])
        #expect(second.clientError?.message.contains("hook says no") == true)
    }

    // MARK: 1. Pinning

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func aPinnedSelfSignedServerIsAcceptedAndAnotherRefused(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        let device = try TestPKI.selfSignedLeaf(commonName: "charger-17", dnsNames: ["charger-17.local"])
        let impostor = try TestPKI.selfSignedLeaf(commonName: "charger-17", dnsNames: ["charger-17.local"])
        let pin = try TLSPublicKeyPin(Self.pinText(device))
        var client = TLSClientConfiguration(trustStore: .pinned(keys: [pin]))
        client.maximumVersion = version
        let b = try backend.make()
        let context = try b.makeClientContext(client)

        // The name is not checked (DANE-EE): the device is reached by address.
        let good = try ConnectionPair(client: context, server: b.makeServerContext(Fixtures.serverConfig(device)), serverName: "192.0.2.17")
        #expect(good.handshake(), "\(String(describing: good.clientError))")
        #expect(good.client.connectionInfo?.peerVerification == .pinned)
        #expect(good.client.connectionInfo?.verifiedChain == [device.certificateDER])

        let bad = try ConnectionPair(client: context, server: b.makeServerContext(Fixtures.serverConfig(impostor)), serverName: "192.0.2.17")
        #expect(!bad.handshake())
        #expect(bad.clientError?.verificationFailure?.reason == .notPinned)
        #expect(bad.clientError?.message.contains("pinned") == true)

        // A CA-issued certificate is not trusted either: the pins replace the roots.
        let ca = try ConnectionPair(client: context, server: b.makeServerContext(Fixtures.serverConfig()))
        #expect(!ca.handshake())
        #expect(ca.clientError?.verificationFailure?.reason == .notPinned)
    }

    @Test(arguments: TestBackends.all)
    func pinnedCertificatesAndPinnedClients(backend: BackendUnderTest) throws {
        let device = try TestPKI.selfSignedLeaf()
        let b = try backend.make()
        // A pinned certificate stands for its key.
        let client = try b.makeClientContext(TLSClientConfiguration(trustStore: .pinned(certificates: [.pem(device.certificatePEM)])))
        let pair = try ConnectionPair(client: client, server: b.makeServerContext(Fixtures.serverConfig(device)))
        #expect(pair.handshake(), "\(String(describing: pair.clientError))")

        // A server that pins its clients' keys.
        var server = Fixtures.serverConfig()
        server.trustStore = .pinned(keys: [try TLSPublicKeyPin(Self.pinText(Fixtures.client))])
        let serverContext = try b.makeServerContext(server)
        var allowed = Fixtures.clientConfig()
        allowed.certificateChain = Fixtures.client.signingChain
        let ok = try ConnectionPair(client: b.makeClientContext(allowed), server: serverContext)
        #expect(ok.handshake(), "\(String(describing: ok.serverError))")
        #expect(ok.server.connectionInfo?.peerVerification == .pinned)
        var other = Fixtures.clientConfig()
        other.certificateChain = try Fixtures.root.issue(commonName: "client-2", usage: .client).signingChain
        let refused = try ConnectionPair(client: b.makeClientContext(other), server: serverContext)
        #expect(!refused.handshake())
        #expect(refused.serverError?.verificationFailure?.reason == .notPinned)
    }

    @Test func pinsParseAndRefuseNonsense() throws {
        let bytes = (0..<32).map { UInt8($0) }
        let pin = try TLSPublicKeyPin(sha256: bytes)
        #expect(try TLSPublicKeyPin(pin.description) == pin)
        #expect(try TLSPublicKeyPin("sha256//" + pin.description.dropFirst(7)) == pin)
        #expect(try TLSPublicKeyPin("sha256:" + bytes.map { String(format: "%02x", $0) }.joined()) == pin)
        for bad in ["sha1:AAAA", "sha256:", "sha256:AAAA", "sha256:not base64!", "AAAA"] {
            #expect(throws: TLSError.self, "\(bad)") { _ = try TLSPublicKeyPin(bad) }
        }
        var config = TLSClientConfiguration(trustStore: .pinned())
        #expect(throws: TLSError(.configuration)) { try config.validateBackendNeutral() }
        config.trustStore = .pinned(keys: [pin])
        config.revocationLists = [.pem("x")]
        #expect(throws: TLSError(.configuration)) { try config.validateBackendNeutral() }
    }

    /// `sha256:BASE64` of a certificate's SubjectPublicKeyInfo, computed independently of
    /// the backends (swift-certificates and Foundation).
    static func pinText(_ identity: TestPKI.Identity) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(identity.certificate.publicKey)  // the whole SubjectPublicKeyInfo
        return "sha256:" + Data(SHA256.hash(data: serializer.serializedBytes)).base64EncodedString()
    }

    // MARK: 2. The verified chain is the real path, the same on both backends

    @Test(arguments: TestBackends.all)
    func theVerifiedChainIsThePathNotThePresentedList(backend: BackendUnderTest) throws {
        let leaf = Self.leafUnderIntermediate
        let inter = Self.intermediate.identity.certificate
        let root = Fixtures.root.identity.certificate
        let other = Self.secondRoot.identity.certificate
        let expected = [leaf.certificateDER, Self.der(inter), Self.der(root)]
        let presentations: [(String, [Certificate])] = [
            ("in order", [inter]),
            ("with the root", [inter, root]),
            ("with an extra trusted root", [inter, other]),
            ("reordered with the root first", [root, inter]),
            ("duplicated", [inter, inter, root, inter]),
            ("with extra roots around", [other, inter, root, other]),
        ]
        let trustBoth = TLSTrustStore.pem(Fixtures.root.certificatePEM + "\n" + Self.secondRoot.certificatePEM)
        let b = try backend.make()
        let openssl = try TestBackends.all[0].make()
        for (label, extra) in presentations {
            let chain = TLSSigningChain(
                certificate: .pem(leaf.certificatePEM), privateKey: .pem(leaf.privateKeyPEM),
                intermediates: try extra.map { .pem(try $0.serializeAsPEM().pemString) })
            let seen = Mutex<[[UInt8]]>([])
            let hooks = TLSContextHooks(verifyPeer: { request in
                seen.withLock { $0 = request.verifiedChain }
                return .accept
            })
            // An OpenSSL server presents exactly the configured list, in order.
            let pair = try ConnectionPair(
                client: b.makeClientContext(TLSClientConfiguration(trustStore: trustBoth), hooks: hooks),
                server: openssl.makeServerContext(TLSServerConfiguration(certificateChain: chain)))
            #expect(pair.handshake(), "\(label): \(String(describing: pair.clientError))")
            #expect(pair.client.connectionInfo?.verifiedChain == expected, "\(backend) \(label)")
            #expect(seen.withLock { $0 } == expected, "\(backend) \(label): the policy sees the same path")
        }
    }

    static func der(_ certificate: Certificate) -> [UInt8] {
        var serializer = DER.Serializer()
        try? serializer.serialize(certificate)
        return serializer.serializedBytes
    }

    // MARK: 6. Chain length, the same on both backends

    @Test(arguments: TestBackends.all)
    func chainLengthLimitsAreExact(backend: BackendUnderTest) throws {
        let b = try backend.make()
        let server = try b.makeServerContext(Fixtures.serverConfig(Self.leafUnderIntermediate))
        for (limit, accepted) in [(1, false), (2, false), (3, true)] {
            var client = Fixtures.clientConfig()
            client.maximumChainLength = limit
            let pair = try ConnectionPair(client: b.makeClientContext(client), server: server)
            #expect(pair.handshake() == accepted, "\(backend) limit \(limit)")
            if !accepted { #expect(pair.clientError?.verificationFailure?.reason == .chainTooLong) }
        }
        // A self-signed certificate trusted directly is a chain of one.
        let device = try TestPKI.selfSignedLeaf()
        var one = TLSClientConfiguration(trustStore: .pem(device.certificatePEM))
        one.maximumChainLength = 1
        let pair = try ConnectionPair(client: b.makeClientContext(one), server: b.makeServerContext(Fixtures.serverConfig(device)))
        #expect(pair.handshake(), "\(String(describing: pair.clientError))")
        let rootOnly = try ConnectionPair(
            client: b.makeClientContext(
                {
                    var c = Fixtures.clientConfig()
                    c.maximumChainLength = 1
                    return c
                }()), server: b.makeServerContext(Fixtures.serverConfig()))
        #expect(!rootOnly.handshake(), "leaf + root is two certificates")
    }

    // MARK: 5. CRLs cover intermediates

    @Test(arguments: TestBackends.all)
    func aRevokedIntermediateIsRefusedAndMissingCRLsAreNamed(backend: BackendUnderTest) throws {
        let b = try backend.make()
        let server = try b.makeServerContext(Fixtures.serverConfig(Self.leafUnderIntermediate))
        let rootRevokesIntermediate = try RevocationTests.crl(by: Fixtures.root, revoking: [Self.intermediate.identity])
        let rootRevokesNothing = try RevocationTests.crl(by: Fixtures.root, revoking: [])
        let intermediateRevokesNothing = try RevocationTests.crl(by: Self.intermediate, revoking: [])

        var client = Fixtures.clientConfig()
        client.revocationLists = [.pem(rootRevokesIntermediate), .pem(intermediateRevokesNothing)]
        let revoked = try ConnectionPair(client: b.makeClientContext(client), server: server)
        #expect(!revoked.handshake())
        #expect(revoked.clientError?.verificationFailure?.reason == .revoked, "\(String(describing: revoked.clientError))")

        client.revocationLists = [.pem(rootRevokesNothing)]
        let unknown = try ConnectionPair(client: b.makeClientContext(client), server: server)
        #expect(!unknown.handshake())
        #expect(unknown.clientError?.verificationFailure?.reason == .revocationUnknown, "\(String(describing: unknown.clientError))")

        client.revocationLists = [.pem(rootRevokesNothing), .pem(intermediateRevokesNothing)]
        let fine = try ConnectionPair(client: b.makeClientContext(client), server: server)
        #expect(fine.handshake(), "\(String(describing: fine.clientError))")

        var crlsWithoutTrust = Fixtures.serverConfig()
        crlsWithoutTrust.revocationLists = [.pem(rootRevokesNothing)]
        #expect(throws: TLSError(.configuration)) { _ = try b.makeServerContext(crlsWithoutTrust) }
    }

    // MARK: 3. Resumption re-checks

    static func clock(_ context: AnyObject) throws -> TLSWallClock {
        try #require(context as? TLSResumptionClocked).resumptionClock
    }

    @Test(arguments: TestBackends.allPairs, [TLSProtocolVersion.tls1_2, .tls1_3])
    func resumptionEndsAtTheMaximumAgeAndRenewalDoesNotExtendIt(pair backends: BackendPair, version: TLSProtocolVersion) throws {
        var config = Fixtures.clientConfig()
        config.maximumVersion = version
        config.maximumResumptionAge = .seconds(3600)
        let client = try backends.client.make().makeClientContext(config)
        let server = try backends.server.make().makeServerContext(Fixtures.serverConfig())
        let now = Mutex<Int64>(Int64(Date().timeIntervalSince1970))
        try Self.clock(client).override = { now.withLock { $0 } }

        #expect(try ResumptionTests.connect(client, server)?.resumed == false)
        now.withLock { $0 += 3000 }
        let renewed = try #require(try ResumptionTests.connect(client, server))
        #expect(renewed.resumed == true, "\(backends) \(version)")
        now.withLock { $0 += 700 }  // 3,700 s after the full handshake, 700 s after the renewal
        #expect(try ResumptionTests.connect(client, server)?.resumed == false, "\(backends) \(version): the renewed ticket kept the original age")
    }

    @Test(arguments: TestBackends.all)
    func anOpenSSLServerRefusesOldTicketsWhateverTheClientThinks(client backend: BackendUnderTest) throws {
        let openssl = try TestBackends.all[0].make()
        var serverConfig = Fixtures.serverConfig()
        serverConfig.maximumResumptionAge = .seconds(600)
        let server = try openssl.makeServerContext(serverConfig)
        let now = Mutex<Int64>(Int64(Date().timeIntervalSince1970))
        try Self.clock(server).override = { now.withLock { $0 } }
        let client = try backend.make().makeClientContext(Fixtures.clientConfig())
        #expect(try ResumptionTests.connect(client, server)?.resumed == false)
        now.withLock { $0 += 500 }
        #expect(try ResumptionTests.connect(client, server)?.resumed == true)  // and a renewed ticket
        now.withLock { $0 += 101 }  // 601 s after the full handshake, 101 s after the renewal
        #expect(try ResumptionTests.connect(client, server)?.resumed == false, "the renewed ticket kept the original time")
    }

    @Test(arguments: TestBackends.all)
    func aServerCertificateThatExpiredSinceIsNotResumed(backend: BackendUnderTest) throws {
        let shortLived = try Fixtures.root.issue(usage: .server, notAfter: Date().addingTimeInterval(1800))
        let b = try backend.make()
        let client = try b.makeClientContext(Fixtures.clientConfig())
        let server = try b.makeServerContext(Fixtures.serverConfig(shortLived))
        let now = Mutex<Int64>(Int64(Date().timeIntervalSince1970))
        try Self.clock(client).override = { now.withLock { $0 } }
        #expect(try ResumptionTests.connect(client, server)?.resumed == false)
        now.withLock { $0 += 3600 }  // past notAfter on the client's clock
        #expect(try ResumptionTests.connect(client, server)?.resumed == false)
    }

    @Test(arguments: TestBackends.allPairs)
    func policiesAreAskedAgainOnResumption(pair backends: BackendPair) throws {
        let allowed = Mutex(true)
        let calls = Mutex(0)
        let policy = TLSVerificationPolicy(name: "allow-list") { request in
            calls.withLock { $0 += 1 }
            return allowed.withLock { $0 } ? .accept : .reject("no longer on the allow-list")
        }
        // Client side.
        let client = try backends.client.make().makeClientContext(Fixtures.clientConfig(), hooks: TLSContextHooks(verificationPolicies: [policy]))
        let server = try backends.server.make().makeServerContext(Fixtures.serverConfig())
        #expect(try ResumptionTests.connect(client, server)?.resumed == false)
        #expect(try ResumptionTests.connect(client, server)?.resumed == true)
        #expect(calls.withLock { $0 } == 2, "once on the full handshake, once before offering the ticket")
        allowed.withLock { $0 = false }
        let refused = try ConnectionPair(client: client, server: server)
        #expect(!refused.handshake())
        #expect(refused.clientError?.message.contains("no longer on the allow-list") == true)

        // Server side (mutual TLS).
        allowed.withLock { $0 = true }
        var serverConfig = Fixtures.serverConfig()
        serverConfig.trustStore = Fixtures.root.trustStore
        let mtlsServer = try backends.server.make().makeServerContext(serverConfig, hooks: TLSContextHooks(verificationPolicies: [policy]))
        var clientConfig = Fixtures.clientConfig()
        clientConfig.certificateChain = Fixtures.client.signingChain
        let mtlsClient = try backends.client.make().makeClientContext(clientConfig)
        #expect(try ResumptionTests.connect(mtlsClient, mtlsServer)?.resumed == false)
        allowed.withLock { $0 = false }
        let pair = try ConnectionPair(client: mtlsClient, server: mtlsServer)
        #expect(!pair.handshake(), "\(backends): a client the policy now rejects does not get in by resuming")
        #expect(pair.serverError?.code == .certificateVerification, "\(String(describing: pair.serverError))")
    }
}
