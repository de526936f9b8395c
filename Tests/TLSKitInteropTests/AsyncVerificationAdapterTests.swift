import Foundation
import NIOCore
import NIOPosix
import NIOTLS
import Synchronization
import TLSKit
import TLSKitIO
import TLSKitNIO
import TLSKitTestSupport
import Testing

/// Asynchronous verification policies through the adapters: the SwiftNIO handler and the
/// async/await stream suspend the handshake while the policy waits on something the test
/// controls, stay responsive meanwhile, and act on the verdict.
@Suite("Asynchronous verification in the adapters", .serialized)
struct AsyncVerificationAdapterTests {
    /// A policy's answer, held until the test gives it. Tells the test when the policy is
    /// waiting, and when its task was cancelled.
    final class Gate: Sendable {
        private struct State {
            var entered = false
            var cancelled = false
            var answer: CheckedContinuation<TLSPeerVerificationDecision, Never>?
        }
        private let state = Mutex(State())

        var policy: TLSVerificationPolicy {
            TLSVerificationPolicy(name: "allowList") { _ in await self.wait() }
        }

        private func wait() async -> TLSPeerVerificationDecision {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<TLSPeerVerificationDecision, Never>) in
                    state.withLock { state in
                        state.entered = true
                        state.answer = continuation
                    }
                }
            } onCancel: {
                state.withLock { $0.cancelled = true }
            }
        }

        /// Returns once the policy is waiting for its answer; records an issue (and returns)
        /// if that has not happened within 20 s, so a handshake that never reaches the policy
        /// fails the test instead of hanging it.
        func untilEntered(sourceLocation: SourceLocation = #_sourceLocation) async {
            await until("the policy was never asked", sourceLocation) { $0.entered }
        }

        /// Returns once the policy's task has been cancelled (or records an issue after 20 s).
        func untilCancelled(sourceLocation: SourceLocation = #_sourceLocation) async {
            await until("the policy's task was never cancelled", sourceLocation) { $0.cancelled }
        }

        private func until(_ failure: String, _ location: SourceLocation, _ condition: (State) -> Bool) async {
            let deadline = ContinuousClock.now + .seconds(20)
            while !state.withLock({ condition($0) }) {
                guard ContinuousClock.now < deadline else {
                    Issue.record("\(failure) within 20 s", sourceLocation: location)
                    return
                }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }

        /// Gives the policy its answer.
        func answer(_ decision: TLSPeerVerificationDecision) {
            let waiting = state.withLock { state in
                defer { state.answer = nil }
                return state.answer
            }
            waiting?.resume(returning: decision)
        }
    }

    /// Records the handshake's completion and the first error, and collects what it reads.
    final class Watcher: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let completed: EventLoopPromise<Void>
        let failed: EventLoopPromise<any Error>
        let handshakeDone = Mutex(false)
        init(_ loop: any EventLoop) {
            completed = loop.makePromise()
            failed = loop.makePromise()
        }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted = event {
                handshakeDone.withLock { $0 = true }
                completed.succeed(())
            }
            context.fireUserInboundEventTriggered(event)
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { failed.succeed(error) }
        func channelInactive(context: ChannelHandlerContext) {
            completed.fail(TLSError(.closed, "closed before the handshake completed"))
            failed.fail(TLSError(.closed, "closed without an error"))
        }
    }

    /// Shuts a group down from a synchronous `defer` in an async test (on a thread of its own).
    static func shutDown(_ group: MultiThreadedEventLoopGroup) {
        group.shutdownGracefully { _ in }
    }

    /// Writes back what it reads.
    final class Echo: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.writeAndFlush(data, promise: nil) }
    }

    /// A NIO server and a NIO client with `policies`, on one single-threaded event loop group.
    static func nioPair(_ backend: BackendUnderTest, _ policies: [TLSVerificationPolicy], group: MultiThreadedEventLoopGroup)
        throws -> (server: any Channel, client: any Channel, watcher: Watcher)
    {
        let pki = InteropPKI.shared
        let b = try backend.make()
        let serverContext = try b.makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let clientContext = try b.makeClientContext(
            TLSClientConfiguration(trustStore: .file(pki.caFile)), hooks: TLSContextHooks(verificationPolicies: policies))
        let server = try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Handshake timeouts far beyond the tests' needs: in the full suite, with
                    // every other suite running beside it on 2 CPUs, the policy's task has
                    // waited more than the default 30 s for a thread, and the server's timer
                    // then closed the connection (seen once in CI). Timeouts have their own test.
                    try channel.pipeline.syncOperations.addHandler(TLSChannelHandler(context: serverContext, handshakeTimeout: .seconds(300)))
                    try channel.pipeline.syncOperations.addHandler(Echo())
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        let watcher = Watcher(group.next())
        let client = try ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        TLSChannelHandler(context: clientContext, serverName: "localhost", handshakeTimeout: .seconds(300)))
                    try channel.pipeline.syncOperations.addHandler(watcher)
                }
            }
            .connect(host: "127.0.0.1", port: server.localAddress!.port!).wait()
        return (server, client, watcher)
    }

    @Test(arguments: TestBackends.all)
    func nioClientWaitsForTheVerdictWithoutBlockingItsLoop(backend: BackendUnderTest) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Self.shutDown(group) }
        let gate = Gate()
        let (server, client, watcher) = try Self.nioPair(backend, [gate.policy], group: group)
        await gate.untilEntered()
        // The one event loop (the client's and the server's) still runs other work.
        #expect(try await group.next().submit { 42 }.get() == 42)
        #expect(watcher.handshakeDone.withLock { $0 } == false)
        gate.answer(.accept)
        try await watcher.completed.futureResult.get()
        let verification = try await client.eventLoop.submit {
            try client.pipeline.syncOperations.handler(type: TLSChannelHandler.self).connectionInfo?.peerVerification
        }.get()
        #expect(verification == .verified)
        try await client.close()
        try await server.close()
    }

    @Test(arguments: TestBackends.all)
    func nioClientRejectionClosesWithAnErrorNamingThePolicy(backend: BackendUnderTest) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Self.shutDown(group) }
        let gate = Gate()
        let (server, client, watcher) = try Self.nioPair(backend, [gate.policy], group: group)
        await gate.untilEntered()
        gate.answer(.reject("not on the allow-list"))
        let error = try #require(try await watcher.failed.futureResult.get() as? TLSError)
        #expect(error.code == .certificateVerification)
        #expect(error.message.contains("verification policy 'allowList': not on the allow-list"), "\(error)")
        try await client.closeFuture.get()
        await #expect(throws: TLSError.self) { try await watcher.completed.futureResult.get() }
        try await server.close()
    }

    @Test(arguments: TestBackends.all)
    func closingANIOChannelWhileVerificationIsPendingCancelsIt(backend: BackendUnderTest) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Self.shutDown(group) }
        let gate = Gate()
        let (server, client, watcher) = try Self.nioPair(backend, [gate.policy], group: group)
        await gate.untilEntered()
        try await client.close()
        await gate.untilCancelled()  // the handler cancelled the policy's task: nothing is left waiting
        gate.answer(.accept)  // a late verdict is ignored
        await #expect(throws: TLSError.self) { try await watcher.completed.futureResult.get() }
        #expect(try await group.next().submit { true }.get())
        try await server.close()
    }

    @Test(arguments: TestBackends.all)
    func nioHandshakeTimeoutCoversAVerdictThatNeverComes(backend: BackendUnderTest) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Self.shutDown(group) }
        let pki = InteropPKI.shared
        let b = try backend.make()
        let gate = Gate()
        let serverContext = try b.makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let clientContext = try b.makeClientContext(
            TLSClientConfiguration(trustStore: .file(pki.caFile)), hooks: TLSContextHooks(verificationPolicies: [gate.policy]))
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(TLSChannelHandler(context: serverContext)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let watcher = Watcher(group.next())
        let client = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        TLSChannelHandler(context: clientContext, serverName: "localhost", handshakeTimeout: .seconds(2)))
                    try channel.pipeline.syncOperations.addHandler(watcher)
                }
            }
            .connect(host: "127.0.0.1", port: server.localAddress!.port!).get()
        let error = try #require(try await watcher.failed.futureResult.get() as? TLSError)
        #expect(error.code == .timeout)
        try await client.closeFuture.get()
        await gate.untilCancelled()
        gate.answer(.accept)
        try await server.close()
    }

    // MARK: Servers (mutual TLS)

    /// Backends whose servers suspend for asynchronous policies (GnuTLS; an OpenSSL 3.0
    /// server decides inside the handshake step, see docs/BackendDifferences.md).
    static let suspendingServers = TestBackends.all.filter { $0.name == "gnutls" }

    /// Resumes a continuation once, with the first of several outcomes.
    final class FirstOf: Sendable {
        private let state: Mutex<CheckedContinuation<Bool, Never>?>
        init(_ continuation: CheckedContinuation<Bool, Never>) { state = Mutex(continuation) }
        func finish(_ value: Bool) { state.withLock { $0.take() }?.resume(returning: value) }
    }

    /// Whether `body` finishes within `seconds`: a thread held inside a blocking call would
    /// make it time out (the bound only turns a hang into a failure; passing never waits).
    static func finishes(within seconds: Double = 10, _ body: @escaping @Sendable () async -> Void) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let first = FirstOf(continuation)
            Task {
                await body()
                first.finish(true)
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { first.finish(false) }
        }
    }

    /// Contexts for mutual TLS: the server requires a client certificate and asks `policies`
    /// about it; the client presents InteropPKI's client identity.
    static func mutualTLSContexts(_ backend: BackendUnderTest, _ policies: [TLSVerificationPolicy]) throws
        -> (server: any TLSServerContext, client: any TLSClientContext)
    {
        let pki = InteropPKI.shared
        let b = try backend.make()
        var serverConfig = TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain)
        serverConfig.trustStore = .file(pki.caFile)
        var clientConfig = TLSClientConfiguration(trustStore: .file(pki.caFile))
        clientConfig.certificateChain = pki.client.identity.signingChain
        return (
            try b.makeServerContext(serverConfig, hooks: TLSContextHooks(verificationPolicies: policies)),
            try b.makeClientContext(clientConfig)
        )
    }

    /// A NIO mTLS server and a NIO client on one single-threaded group. The server's watcher
    /// sees its accepted channel's handshake; `accepted` holds that channel.
    static func nioMutualTLSPair(_ backend: BackendUnderTest, _ policies: [TLSVerificationPolicy], group: MultiThreadedEventLoopGroup)
        throws -> (server: any Channel, client: any Channel, serverWatcher: Watcher, clientWatcher: Watcher, accepted: Accepted)
    {
        let (serverContext, clientContext) = try mutualTLSContexts(backend, policies)
        let serverWatcher = Watcher(group.next())
        let accepted = Accepted()
        let server = try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                accepted.channel.withLock { $0 = channel }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSChannelHandler(context: serverContext))
                    try channel.pipeline.syncOperations.addHandler(serverWatcher)
                    try channel.pipeline.syncOperations.addHandler(Echo())
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        let clientWatcher = Watcher(group.next())
        let client = try ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSChannelHandler(context: clientContext, serverName: "localhost"))
                    try channel.pipeline.syncOperations.addHandler(clientWatcher)
                }
            }
            .connect(host: "127.0.0.1", port: server.localAddress!.port!).wait()
        return (server, client, serverWatcher, clientWatcher, accepted)
    }

    /// The server's accepted channel.
    final class Accepted: Sendable {
        let channel = Mutex<(any Channel)?>(nil)
    }

    @Test(arguments: suspendingServers)
    func nioServerWaitsForTheVerdictWithoutBlockingItsLoop(backend: BackendUnderTest) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Self.shutDown(group) }
        let gate = Gate()
        let (server, client, serverWatcher, _, _) = try Self.nioMutualTLSPair(backend, [gate.policy], group: group)
        await gate.untilEntered()
        // The one event loop (the server's and the client's) is free while the policy waits.
        let loop = group.next()
        #expect(await Self.finishes { _ = try? await loop.submit { 42 }.get() }, "the event loop is held by the server's handshake")
        #expect(serverWatcher.handshakeDone.withLock { $0 } == false, "no handshake completes before the verdict")
        gate.answer(.accept)
        try await serverWatcher.completed.futureResult.get()
        try await client.close()
        try await server.close()
    }

    @Test(arguments: suspendingServers)
    func nioServerRejectionAlertsTheClientAndNamesThePolicy(backend: BackendUnderTest) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Self.shutDown(group) }
        let gate = Gate()
        let (server, client, serverWatcher, clientWatcher, _) = try Self.nioMutualTLSPair(backend, [gate.policy], group: group)
        await gate.untilEntered()
        gate.answer(.reject("client not on the allow-list"))
        let error = try #require(try await serverWatcher.failed.futureResult.get() as? TLSError)
        #expect(error.code == .certificateVerification)
        #expect(error.message.contains("verification policy 'allowList': client not on the allow-list"), "\(error)")
        await #expect(throws: TLSError.self) { try await serverWatcher.completed.futureResult.get() }
        let clientError = try #require(try await clientWatcher.failed.futureResult.get() as? TLSError)
        #expect(clientError.code == .alertReceived, "the client was told with an alert: \(clientError)")
        try await client.closeFuture.get()
        try await server.close()
    }

    @Test(arguments: suspendingServers)
    func closingTheServerChannelWhileVerificationIsPendingCancelsIt(backend: BackendUnderTest) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { Self.shutDown(group) }
        let gate = Gate()
        let (server, client, serverWatcher, _, accepted) = try Self.nioMutualTLSPair(backend, [gate.policy], group: group)
        await gate.untilEntered()
        let loop = group.next()
        try #require(await Self.finishes { _ = try? await loop.submit { 0 }.get() }, "the event loop is held by the server's handshake")
        let child = try #require(accepted.channel.withLock { $0 })
        try await child.close()
        await gate.untilCancelled()  // the handler cancelled the policy's task
        gate.answer(.accept)  // a late verdict is ignored
        await #expect(throws: TLSError.self) { try await serverWatcher.completed.futureResult.get() }
        #expect(try await group.next().submit { true }.get())
        try await client.closeFuture.get()
        try await server.close()
    }

    @Test(arguments: suspendingServers)
    func streamServerWaitsForTheVerdictWithoutHoldingItsQueue(backend: BackendUnderTest) async throws {
        for accept in [true, false] {
            let gate = Gate()
            let (serverContext, clientContext) = try Self.mutualTLSContexts(backend, [gate.policy])
            let listener = try TLSStreamListener(host: "127.0.0.1", port: 0, context: serverContext)
            defer { listener.close() }
            let port = listener.port
            let connecting = Task {
                try await TLSStream.connect(host: "127.0.0.1", port: port, context: clientContext, serverName: try TLSServerName("localhost"))
            }
            let stream = try await listener.accept()
            let reading = Task { try await stream.read() }  // an accepted stream's handshake runs here
            await gate.untilEntered()
            // The stream's queue is not held by the handshake: other calls still get through.
            try #require(await Self.finishes { _ = await stream.connectionInfo }, "the stream's queue is held by the handshake")
            if accept {
                gate.answer(.accept)
                let client = try await connecting.value
                try await client.write("ping")
                #expect(try await reading.value == Array("ping".utf8))
                #expect(await stream.connectionInfo?.peerCertificates.isEmpty == false)
                await client.close()
            } else {
                gate.answer(.reject("revoked"))
                let error = try #require(await #expect(throws: TLSError.self) { _ = try await reading.value })
                #expect(error.code == .certificateVerification)
                #expect(error.message.contains("verification policy 'allowList': revoked"), "\(error)")
                // A TLS 1.3 client completed before the verdict and learns it when it reads.
                if let client = try? await connecting.value {
                    await #expect(throws: (any Error).self) { _ = try await client.read() }
                    await client.close()
                }
            }
            await stream.close()
        }
    }

    // MARK: TLSStream

    static func streamServer(_ backend: BackendUnderTest) throws -> (TLSStreamListener, Task<Void, any Error>) {
        let pki = InteropPKI.shared
        let serverContext = try backend.make().makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let listener = try TLSStreamListener(host: "127.0.0.1", port: 0, context: serverContext)
        let server = Task {
            let connection = try await listener.accept()
            defer { Task { await connection.close() } }
            while let chunk = try await connection.read() { try await connection.write(chunk) }
        }
        return (listener, server)
    }

    static func clientContext(_ backend: BackendUnderTest, _ policy: TLSVerificationPolicy) throws -> any TLSClientContext {
        try backend.make().makeClientContext(
            TLSClientConfiguration(trustStore: .file(InteropPKI.shared.caFile)), hooks: TLSContextHooks(verificationPolicies: [policy]))
    }

    @Test(arguments: TestBackends.all)
    func streamClientWaitsForTheVerdict(backend: BackendUnderTest) async throws {
        let (listener, server) = try Self.streamServer(backend)
        defer { listener.close() }
        let gate = Gate()
        let context = try Self.clientContext(backend, gate.policy)
        let connecting = Task {
            try await TLSStream.connect(host: "127.0.0.1", port: listener.port, context: context, serverName: try TLSServerName("localhost"))
        }
        await gate.untilEntered()
        gate.answer(.accept)
        let stream = try await connecting.value
        try await stream.write("ping")
        #expect(try await stream.read() == Array("ping".utf8))
        #expect(await stream.connectionInfo?.peerVerification == .verified)
        await stream.close()
        _ = try? await server.value
    }

    @Test(arguments: TestBackends.all)
    func streamClientRejectionNamesThePolicy(backend: BackendUnderTest) async throws {
        let (listener, server) = try Self.streamServer(backend)
        defer { listener.close() }
        let gate = Gate()
        let context = try Self.clientContext(backend, gate.policy)
        let connecting = Task {
            try await TLSStream.connect(host: "127.0.0.1", port: listener.port, context: context, serverName: try TLSServerName("localhost"))
        }
        await gate.untilEntered()
        gate.answer(.reject("revoked per OCSP"))
        let error = try #require(await #expect(throws: TLSError.self) { _ = try await connecting.value })
        #expect(error.code == .certificateVerification)
        #expect(error.message.contains("verification policy 'allowList': revoked per OCSP"), "\(error)")
        let serverError = await #expect(throws: (any Error).self) { try await server.value }
        #expect(serverError != nil, "the server was told with an alert")
    }

    @Test(arguments: TestBackends.all)
    func cancellingAStreamHandshakeWhileVerificationIsPendingClosesIt(backend: BackendUnderTest) async throws {
        let (listener, server) = try Self.streamServer(backend)
        defer { listener.close() }
        let gate = Gate()
        let context = try Self.clientContext(backend, gate.policy)
        let connecting = Task {
            try await TLSStream.connect(host: "127.0.0.1", port: listener.port, context: context, serverName: try TLSServerName("localhost"))
        }
        await gate.untilEntered()
        connecting.cancel()
        await #expect(throws: CancellationError.self) { _ = try await connecting.value }
        await gate.untilCancelled()
        gate.answer(.accept)  // ignored
        _ = try? await server.value
    }

    @Test(arguments: TestBackends.all)
    func blockingSocketTimesOutAVerdictThatNeverComes(backend: BackendUnderTest) async throws {
        let (listener, server) = try Self.streamServer(backend)
        defer { listener.close() }
        let gate = Gate()
        let context = try Self.clientContext(backend, gate.policy)
        let port = listener.port
        // The blocking client on a thread of its own: blocking a task could starve the server's.
        var failure: TLSError?
        do {
            try await onOwnThread {
                _ = try TLSSocket.connect(
                    host: "127.0.0.1", port: port, context: context, serverName: try TLSServerName("localhost"), timeout: .seconds(3))
            }
            Issue.record("the handshake completed without a verdict")
        } catch {
            failure = error as? TLSError
        }
        #expect(failure?.code == .timeout)
        #expect(failure?.message.contains("allowList") == true, "\(String(describing: failure))")
        await gate.untilCancelled()
        gate.answer(.accept)
        _ = try? await server.value
    }
}
