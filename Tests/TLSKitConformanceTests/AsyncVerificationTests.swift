import Synchronization
import TLSKit
import TLSKitInsecure
import TLSKitTestSupport
import TLSKitX509
import Testing

/// Asynchronous verification policies at the sans-I/O level: the handshake is suspended
/// (`.verificationPending`) until the driver completes it, on full handshakes and before a
/// remembered session is offered.
@Suite("Asynchronous verification")
struct AsyncVerificationTests {
    /// Counts the asynchronous check's runs and what it was asked.
    final class Calls: Sendable {
        let requests = Mutex<[TLSPeerVerificationRequest]>([])
        var count: Int { requests.withLock { $0.count } }
        var all: [TLSPeerVerificationRequest] { requests.withLock { $0 } }
        func record(_ request: TLSPeerVerificationRequest) { requests.withLock { $0.append(request) } }
    }

    static func policy(_ calls: Calls, _ decide: @escaping @Sendable (TLSPeerVerificationRequest) -> TLSPeerVerificationDecision)
        -> TLSVerificationPolicy
    {
        TLSVerificationPolicy(name: "asyncCheck") { request in
            await Task.yield()  // a real suspension point
            calls.record(request)
            return decide(request)
        }
    }

    static func context(_ backend: BackendUnderTest, _ policy: TLSVerificationPolicy, version: TLSProtocolVersion? = nil) throws
        -> (any TLSClientContext, any TLSServerContext)
    {
        var config = Fixtures.clientConfig()
        if let version {
            config.minimumVersion = version
            config.maximumVersion = version
        }
        let b = try backend.make()
        return (
            try b.makeClientContext(config, hooks: TLSContextHooks(verificationPolicies: [policy])),
            try b.makeServerContext(Fixtures.serverConfig())
        )
    }

    /// Runs the pair until it stalls, then checks that the client waits for a verdict; runs
    /// the check and hands the verdict over. Returns the pending verification.
    static func suspendAndComplete(_ pair: ConnectionPair, calls: Calls) async throws -> TLSPendingVerification {
        let before = calls.count
        #expect(!pair.handshake())
        #expect(pair.clientError == nil)
        #expect(try pair.client.handshake() == .verificationPending)
        #expect(try pair.client.handshake() == .verificationPending, "calling again before the verdict is harmless")
        let pending = try #require(pair.client.pendingVerification)
        #expect(calls.count == before, "the handshake was suspended before the policy ran")
        #expect(pending.policyNames == ["asyncCheck"])
        #expect(!pair.client.isHandshakeComplete)
        let verdict = await pending.evaluate()
        #expect(calls.count == before + 1)
        try pair.client.completeVerification(verdict)
        #expect(throws: TLSError.self) { try pair.client.completeVerification(verdict) }  // once only
        return pending
    }

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func anAcceptingPolicyLetsTheSuspendedHandshakeComplete(backend: BackendUnderTest, version: TLSProtocolVersion) async throws {
        let calls = Calls()
        let (client, server) = try Self.context(backend, Self.policy(calls) { _ in .accept }, version: version)
        let pair = try ConnectionPair(client: client, server: server)
        pair.client.enableAsynchronousVerification()
        let pending = try await Self.suspendAndComplete(pair, calls: calls)
        #expect(pending.request.peerCertificates.first == Fixtures.server.certificateDER)
        #expect(pending.request.resumed == false)
        #expect(pair.handshake())
        #expect(pair.client.pendingVerification == nil)
        #expect(pair.client.connectionInfo?.peerVerification == .verified)
        #expect(try pair.send(Array("hello".utf8), from: pair.client) == Array("hello".utf8))
        #expect(calls.count == 1)
    }

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func aRejectingPolicyFailsTheHandshakeWithAnAlert(backend: BackendUnderTest, version: TLSProtocolVersion) async throws {
        let calls = Calls()
        let (client, server) = try Self.context(backend, Self.policy(calls) { _ in .reject("not on the allow-list") }, version: version)
        let pair = try ConnectionPair(client: client, server: server)
        pair.client.enableAsynchronousVerification()
        _ = try await Self.suspendAndComplete(pair, calls: calls)
        #expect(!pair.handshake())
        let error = try #require(pair.clientError)
        #expect(error.code == .certificateVerification)
        #expect(error.verificationFailure?.reason == .rejectedByHook)
        #expect(error.message.contains("verification policy 'asyncCheck': not on the allow-list"), "\(error)")
        let serverError = try #require(pair.serverError, "the server was told with an alert")
        #expect(serverError.code == .alertReceived || serverError.code == .certificateVerification, "\(serverError)")
        #expect(pair.client.connectionInfo == nil)
    }

    @Test(arguments: TestBackends.all)
    func withoutOptingInTheCheckRunsInsideTheHandshake(backend: BackendUnderTest) throws {
        let calls = Calls()
        let (client, server) = try Self.context(backend, Self.policy(calls) { _ in .reject("refused") })
        let pair = try ConnectionPair(client: client, server: server)
        #expect(!pair.handshake())  // never pending: the check ran to completion on the verifier thread
        #expect(calls.count == 1)
        #expect(pair.clientError?.message.contains("verification policy 'asyncCheck': refused") == true)

        let accepting = Calls()
        let (client2, server2) = try Self.context(backend, Self.policy(accepting) { _ in .accept })
        #expect(try ConnectionPair(client: client2, server: server2).handshake())
        #expect(accepting.count == 1)
    }

    @Test(arguments: TestBackends.all)
    func aVerdictForAnotherConnectionIsRefused(backend: BackendUnderTest) async throws {
        let calls = Calls()
        let (client, server) = try Self.context(backend, Self.policy(calls) { _ in .accept })
        let first = try ConnectionPair(client: client, server: server)
        let second = try ConnectionPair(client: client, server: server)
        first.client.enableAsynchronousVerification()
        second.client.enableAsynchronousVerification()
        first.handshake()
        second.handshake()
        let verdict = try await #require(first.client.pendingVerification).evaluate()
        #expect(throws: TLSError.self) { try second.client.completeVerification(verdict) }
        #expect(try second.client.handshake() == .verificationPending)
        #expect(throws: TLSError.self) { try first.client.completeVerification(try #require(second.client.pendingVerification).rejected("x")) }
    }

    // MARK: Servers (mutual TLS)

    /// Backends whose servers suspend for asynchronous policies (GnuTLS), and those whose
    /// servers decide inside the handshake call (OpenSSL 3.0: see docs/BackendDifferences.md).
    static let suspendingServers = TestBackends.all.filter { $0.name == "gnutls" }
    static let blockingServers = TestBackends.all.filter { $0.name == "openssl" }

    /// A client presenting Fixtures.client and a server requiring a client certificate and
    /// asking `policy` about it.
    static func mutualTLS(_ backend: BackendUnderTest, _ policy: TLSVerificationPolicy, version: TLSProtocolVersion? = nil) throws
        -> (any TLSClientContext, any TLSServerContext)
    {
        var server = Fixtures.serverConfig()
        server.trustStore = Fixtures.root.trustStore
        var client = Fixtures.clientConfig()
        client.certificateChain = Fixtures.client.signingChain
        if let version {
            client.minimumVersion = version
            client.maximumVersion = version
        }
        let b = try backend.make()
        return (try b.makeClientContext(client), try b.makeServerContext(server, hooks: TLSContextHooks(verificationPolicies: [policy])))
    }

    /// Runs the pair until it stalls, then checks that the server waits for a verdict about
    /// the client's certificate (the policy not run yet); runs it and hands the verdict over.
    static func suspendServerAndComplete(_ pair: ConnectionPair, calls: Calls) async throws -> TLSPendingVerification {
        let before = calls.count
        #expect(!pair.handshake())
        #expect(pair.serverError == nil && pair.clientError == nil, "\(String(describing: pair.serverError)) \(String(describing: pair.clientError))")
        #expect(try pair.server.handshake() == .verificationPending)
        #expect(try pair.server.handshake() == .verificationPending, "calling again before the verdict is harmless")
        #expect(!pair.server.isHandshakeComplete)
        #expect(pair.server.connectionInfo == nil)
        let pending = try #require(pair.server.pendingVerification)
        #expect(calls.count == before, "the handshake was suspended before the policy ran")
        #expect(pending.policyNames == ["asyncCheck"])
        #expect(pending.request.side == .server)
        #expect(pending.request.peerCertificates.first == Fixtures.client.certificateDER)
        let verdict = await pending.evaluate()
        #expect(calls.count == before + 1)
        try pair.server.completeVerification(verdict)
        #expect(throws: TLSError.self) { try pair.server.completeVerification(verdict) }  // once only
        return pending
    }

    @Test(arguments: suspendingServers, [TLSProtocolVersion.tls1_2, .tls1_3])
    func aServerSuspendsForTheClientCertificateAndAnAcceptanceCompletes(backend: BackendUnderTest, version: TLSProtocolVersion)
        async throws
    {
        let calls = Calls()
        let (client, server) = try Self.mutualTLS(backend, Self.policy(calls) { _ in .accept }, version: version)
        let pair = try ConnectionPair(client: client, server: server)
        pair.server.enableAsynchronousVerification()
        let pending = try await Self.suspendServerAndComplete(pair, calls: calls)
        #expect(pending.request.resumed == false)
        #expect(pair.handshake())
        #expect(pair.server.pendingVerification == nil)
        #expect(pair.server.connectionInfo?.peerCertificates.first == Fixtures.client.certificateDER)
        #expect(try pair.send(Array("hello".utf8), from: pair.client) == Array("hello".utf8))
        #expect(try pair.send(Array("back".utf8), from: pair.server) == Array("back".utf8))
        #expect(calls.count == 1)
    }

    @Test(arguments: suspendingServers, [TLSProtocolVersion.tls1_2, .tls1_3])
    func aServerRejectionSendsTheClientAnAlertAndNamesThePolicy(backend: BackendUnderTest, version: TLSProtocolVersion) async throws {
        let calls = Calls()
        let (client, server) = try Self.mutualTLS(
            backend, Self.policy(calls) { _ in .reject("client-1 is not on the allow-list") }, version: version)
        let pair = try ConnectionPair(client: client, server: server)
        pair.server.enableAsynchronousVerification()
        if version == .tls1_3 {
            // The client is done after its Finished; what it writes meanwhile must never reach
            // the server's application.
            #expect(!pair.handshake())
            #expect(pair.client.isHandshakeComplete)
            try pair.client.write(Array("too early".utf8))
            pair.transfer(from: pair.client, to: pair.server)
        }
        _ = try await Self.suspendServerAndComplete(pair, calls: calls)
        #expect(!pair.handshake())
        let serverError = try #require(pair.serverError)
        #expect(serverError.code == .certificateVerification, "\(serverError)")
        #expect(serverError.verificationFailure?.reason == .rejectedByHook)
        #expect(serverError.message.contains("verification policy 'asyncCheck': client-1 is not on the allow-list"), "\(serverError)")
        #expect(pair.server.connectionInfo == nil)
        #expect(throws: TLSError.self) { _ = try pair.server.read(maximumCount: 100) }
        // A TLS 1.3 client learns it when it next reads.
        if pair.clientError == nil { _ = try? pair.readAll(pair.client) }
        let clientError = try #require(pair.clientError, "the client was told with an alert")
        #expect(clientError.code == .alertReceived, "\(clientError)")
    }

    @Test(arguments: blockingServers)
    func anOpenSSLServerRunsAsynchronousPoliciesInsideTheHandshake(backend: BackendUnderTest) throws {
        let calls = Calls()
        let (client, server) = try Self.mutualTLS(backend, Self.policy(calls) { _ in .reject("client not allowed") })
        let pair = try ConnectionPair(client: client, server: server)
        pair.server.enableAsynchronousVerification()  // OpenSSL 3.0 servers do not suspend: decided in the call
        #expect(!pair.handshake())
        #expect(calls.count == 1)
        #expect(pair.server.pendingVerification == nil)
        #expect(pair.serverError?.message.contains("verification policy 'asyncCheck': client not allowed") == true)
    }

    @Test(arguments: TestBackends.all)
    func withoutOptingInAServerDecidesInsideTheHandshake(backend: BackendUnderTest) throws {
        let calls = Calls()
        let (client, server) = try Self.mutualTLS(backend, Self.policy(calls) { _ in .reject("client not allowed") })
        let pair = try ConnectionPair(client: client, server: server)
        #expect(!pair.handshake())
        #expect(calls.count == 1)
        #expect(pair.server.pendingVerification == nil)
        #expect(pair.serverError?.message.contains("verification policy 'asyncCheck': client not allowed") == true)
        let accepting = Calls()
        let (client2, server2) = try Self.mutualTLS(backend, Self.policy(accepting) { _ in .accept })
        #expect(try ConnectionPair(client: client2, server: server2).handshake())
        #expect(accepting.count == 1)
    }

    /// A returning client is checked again before the server lets it in, and the server
    /// suspends for that too: the resumption is not complete before the verdict.
    @Test(arguments: suspendingServers, [TLSProtocolVersion.tls1_2, .tls1_3])
    func aServerSuspendsBeforeLettingAReturningClientResume(backend: BackendUnderTest, version: TLSProtocolVersion) async throws {
        for accept in [true, false] {
            let calls = Calls()
            let policy = Self.policy(calls) { request in
                !request.resumed || accept ? .accept : .reject("no longer on the allow-list")
            }
            let (client, server) = try Self.mutualTLS(backend, policy, version: version)
            let first = try ConnectionPair(client: client, server: server)
            first.server.enableAsynchronousVerification()
            _ = try await Self.suspendServerAndComplete(first, calls: calls)
            #expect(first.handshake())
            #expect(try first.send(Array("x".utf8), from: first.server) == Array("x".utf8))  // moves the tickets too
            _ = try first.client.shutdown()
            first.transfer(from: first.client, to: first.server)

            let pair = try ConnectionPair(client: client, server: server)
            pair.server.enableAsynchronousVerification()
            let pending = try await Self.suspendServerAndComplete(pair, calls: calls)
            #expect(pending.request.resumed, "the returning client's remembered certificate is asked about")
            #expect(calls.all.map(\.resumed) == [false, true])
            if accept {
                #expect(pair.handshake())
                #expect(pair.server.connectionInfo?.resumed == true)
                #expect(try pair.send(Array("hi".utf8), from: pair.client) == Array("hi".utf8))
            } else {
                #expect(!pair.handshake())
                let error = try #require(pair.serverError)
                #expect(error.code == .certificateVerification, "\(error)")
                #expect(error.message.contains("verification policy 'asyncCheck': no longer on the allow-list"), "\(error)")
                #expect(pair.server.connectionInfo == nil)
                if pair.clientError == nil { _ = try? pair.readAll(pair.client) }
                #expect(pair.clientError?.code == .alertReceived, "\(String(describing: pair.clientError))")
            }
        }
    }

    // MARK: Resumption

    /// A full handshake that leaves a ticket in `client`'s cache (the policy accepting).
    static func establishTicket(_ client: any TLSClientContext, _ server: any TLSServerContext, calls: Calls) async throws {
        let pair = try ConnectionPair(client: client, server: server)
        pair.client.enableAsynchronousVerification()
        _ = try await suspendAndComplete(pair, calls: calls)
        #expect(pair.handshake())
        #expect(try pair.send(Array("x".utf8), from: pair.server) == Array("x".utf8))  // moves the tickets too
        _ = try pair.client.shutdown()  // OpenSSL keeps only sessions that were closed cleanly
        pair.transfer(from: pair.client, to: pair.server)
    }

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func aRejectingPolicyStopsAResumption(backend: BackendUnderTest, version: TLSProtocolVersion) async throws {
        let calls = Calls()
        let policy = Self.policy(calls) { request in request.resumed ? .reject("sessions may not be resumed") : .accept }
        let (client, server) = try Self.context(backend, policy, version: version)
        try await Self.establishTicket(client, server, calls: calls)

        let pair = try ConnectionPair(client: client, server: server)
        pair.client.enableAsynchronousVerification()
        // The ticket is not offered before the policy answers: nothing leaves the client.
        #expect(try pair.client.handshake() == .verificationPending)
        #expect(pair.client.pendingOutputByteCount == 0)
        let pending = try #require(pair.client.pendingVerification)
        #expect(pending.request.resumed)
        try pair.client.completeVerification(await pending.evaluate())
        // Refused: a full handshake follows, and the policy is asked about the certificate.
        let full = try await Self.suspendAndComplete(pair, calls: calls)
        #expect(full.request.resumed == false)
        #expect(pair.handshake())
        #expect(pair.client.connectionInfo?.resumed == false)
        #expect(calls.all.map(\.resumed) == [false, true, false])
    }

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func anAcceptingPolicyLetsASessionResume(backend: BackendUnderTest, version: TLSProtocolVersion) async throws {
        let calls = Calls()
        let (client, server) = try Self.context(backend, Self.policy(calls) { _ in .accept }, version: version)
        try await Self.establishTicket(client, server, calls: calls)

        let pair = try ConnectionPair(client: client, server: server)
        pair.client.enableAsynchronousVerification()
        #expect(try pair.client.handshake() == .verificationPending)
        let pending = try #require(pair.client.pendingVerification)
        #expect(pending.request.resumed)
        try pair.client.completeVerification(await pending.evaluate())
        #expect(pair.handshake())
        #expect(pair.client.connectionInfo?.resumed == true)
        #expect(calls.all.map(\.resumed) == [false, true])
    }

    @Test(arguments: TestBackends.all)
    func withoutOptingInAResumptionIsStillChecked(backend: BackendUnderTest) async throws {
        let calls = Calls()
        let policy = Self.policy(calls) { request in request.resumed ? .reject("sessions may not be resumed") : .accept }
        let (client, server) = try Self.context(backend, policy, version: .tls1_3)
        try await Self.establishTicket(client, server, calls: calls)
        let pair = try ConnectionPair(client: client, server: server)
        #expect(pair.handshake())
        #expect(pair.client.connectionInfo?.resumed == false)
        #expect(calls.all.map(\.resumed) == [false, true, false])
    }

    // MARK: webPKI

    /// webPKI() is an asynchronous policy: an opted-in driver gets the handshake back while
    /// swift-certificates' verifier runs (no semaphore, no thread waiting), and its verdict
    /// completes it; without opting in it still decides inside the handshake call.
    @Test(arguments: TestBackends.all)
    func webPKISuspendsTheHandshakeInsteadOfBlocking(backend: BackendUnderTest) async throws {
        #expect(TLSVerificationPolicy.webPKI().isAsynchronous)
        let b = try backend.make()
        let client = try b.makeClientContext(Fixtures.clientConfig(), hooks: .webPKI())
        let server = try b.makeServerContext(Fixtures.serverConfig())
        let pair = try ConnectionPair(client: client, server: server)
        pair.client.enableAsynchronousVerification()
        #expect(!pair.handshake())
        #expect(try pair.client.handshake() == .verificationPending)
        let pending = try #require(pair.client.pendingVerification)
        #expect(pending.policyNames == ["webPKI"])
        let verdict = await pending.evaluate()
        #expect(verdict.isAccepted, "\(verdict)")
        try pair.client.completeVerification(verdict)
        #expect(pair.handshake())

        #expect(try ConnectionPair(client: client, server: server).handshake(), "the blocking path still works")
    }

    @Test(arguments: TestBackends.all)
    func webPKIRejectionThroughTheSuspendedPathNamesThePolicy(backend: BackendUnderTest) async throws {
        var config = Fixtures.clientConfig()
        config.insecurelyDisableCertificateVerification()  // webPKI needs a verified chain: it must reject
        let b = try backend.make()
        let pair = try ConnectionPair(
            client: b.makeClientContext(config, hooks: .webPKI()), server: b.makeServerContext(Fixtures.serverConfig()))
        pair.client.enableAsynchronousVerification()
        #expect(!pair.handshake())
        let pending = try #require(pair.client.pendingVerification)
        try pair.client.completeVerification(await pending.evaluate())
        #expect(!pair.handshake())
        let error = try #require(pair.clientError)
        #expect(error.message.contains("webPKI") && error.message.contains("did not verify the chain"), "\(error)")
        #expect(pair.serverError != nil, "the server was told with an alert")
    }
}
