import Dispatch
import Foundation
import Synchronization
import TLSKit
import TLSKitIO
import TLSKitInsecure
import TLSKitTestSupport
import Testing

@testable import TLSKitOpenSSL

#if canImport(Glibc)
import Glibc
#endif

/// Many threads on shared contexts, cancellation storms and listeners closed under
/// accept(): the tests the sanitizer runs of `scripts/test` are there for (TSan finds the
/// races these provoke, ASan the use-after-free and leaks). They also run, fast enough,
/// in the normal debug run.
///
/// `TLSKIT_STRESS_HANDSHAKES` sets the handshakes per thread (default 200; 32 threads).
@Suite("Concurrency stress", .serialized)
struct ConcurrencyStressTests {
    static let threads = 32
    static let handshakesPerThread = ProcessInfo.processInfo.environment["TLSKIT_STRESS_HANDSHAKES"].flatMap(Int.init) ?? 200

    /// Counts that every thread adds to, and what went wrong.
    final class Tally: Sendable {
        let succeeded = Atomic<Int>(0)
        let resumed = Atomic<Int>(0)
        let resumedAfterRotation = Atomic<Int>(0)
        let clientKeyLogLines = Atomic<Int>(0)
        let serverKeyLogLines = Atomic<Int>(0)
        /// Policy runs by thread: the policy runs synchronously inside the handshake, on the
        /// thread that drives it, so each thread can see that its own handshake ran it.
        let policyRuns = Locked<[UInt: Int]>([:])
        let failures = Locked<[String]>([])

        func fail(_ text: String) { failures.withLock { if $0.count < 20 { $0.append(text) } } }
        func policyRunsOnThisThread() -> Int { policyRuns.withLock { $0[UInt(pthread_self())] ?? 0 } }
    }

    /// The ticket-key clock and how often it moved.
    final class Rotation: Sendable {
        let generation = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let fakeSeconds = Atomic<UInt64>(1_000_000)
    }

    /// 32 threads × 200 in-memory handshakes sharing one server context (two SNI chains,
    /// rotating ticket keys, key log) and two client contexts (TLS 1.3 and 1.2, each with a
    /// verification policy and a key log), resuming whenever they can.
    @Test(arguments: TestBackends.all)
    func sharedContextsUnderManyThreads(backend: BackendUnderTest) async throws {
        let pki = InteropPKI.shared
        let a = try pki.ca.issue(commonName: "a", dnsNames: ["a.test"], ipAddresses: [], usage: .server)
        let b = try pki.ca.issue(commonName: "b", dnsNames: ["b.test", "*.b.test"], ipAddresses: [], usage: .server)
        let names = ["a.test", "b.test", "www.b.test"]
        let expectedLeaf = ["a.test": a.certificateDER, "b.test": b.certificateDER, "www.b.test": b.certificateDER]
        let tally = Tally()
        let made = try backend.make()

        var serverConfig = TLSServerConfiguration(certificateChains: [a.signingChain, b.signingChain])
        // OpenSSL: the test moves the ticket keys' clock (below). GnuTLS derives and rotates
        // its keys itself every ticket lifetime: a short one rotates them during the run.
        serverConfig.ticketKeyLifetime = backend.name == "openssl" ? .seconds(100) : .seconds(2)
        var serverHooks = TLSContextHooks()
        serverHooks.insecurelyLogKeys { _ in tally.serverKeyLogLines.add(1, ordering: .relaxed) }
        let server = try made.makeServerContext(serverConfig, hooks: serverHooks)

        var clientHooks = TLSContextHooks()
        clientHooks.insecurelyLogKeys { _ in tally.clientKeyLogLines.add(1, ordering: .relaxed) }
        clientHooks.addVerificationPolicy(
            TLSVerificationPolicy(name: "stress") { request in
                tally.policyRuns.withLock { $0[UInt(pthread_self()), default: 0] += 1 }
                guard let name = request.serverName, request.peerCertificates.first == expectedLeaf[name] else {
                    return .reject("unexpected peer for \(request.serverName ?? "no name")")
                }
                return .accept
            })
        var tls12 = TLSClientConfiguration(trustStore: pki.ca.trustStore)
        tls12.maximumVersion = .tls1_2
        let clients = [
            try made.makeClientContext(TLSClientConfiguration(trustStore: pki.ca.trustStore), hooks: clientHooks),
            try made.makeClientContext(tls12, hooks: clientHooks),
        ]

        // Ticket-key rotation while the threads run: OpenSSL's clock moves a lifetime ahead
        // every 250 ms (tickets under the previous key still resume; older ones do not).
        let rotation = Rotation()
        if let openssl = server as? OpenSSLServerContext {
            openssl.ticketKeys.setClock { rotation.fakeSeconds.load(ordering: .relaxed) }
        }
        let rotator = Thread {
            while !rotation.stop.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: backend.name == "openssl" ? 0.25 : 2)
                rotation.fakeSeconds.add(100, ordering: .relaxed)
                rotation.generation.add(1, ordering: .relaxed)
            }
        }
        rotator.start()

        let perThread = Self.handshakesPerThread
        let group = DispatchGroup()
        let started = ContinuousClock.now
        for t in 0..<Self.threads {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                for i in 0..<perThread {
                    let name = names[(t + i) % names.count]
                    let before = tally.policyRunsOnThisThread()
                    let rotationsBefore = rotation.generation.load(ordering: .relaxed)
                    do {
                        let pair = try ConnectionPair(client: clients[t % 2], server: server, serverName: name)
                        guard pair.handshake() else {
                            tally.fail("\(name) #\(t)/\(i): \(String(describing: pair.clientError)) / \(String(describing: pair.serverError))")
                            continue
                        }
                        // Moves the TLS 1.3 tickets to the client, then closes.
                        guard try pair.send([0x2A], from: pair.server) == [0x2A] else {
                            tally.fail("\(name) #\(t)/\(i): data did not arrive")
                            continue
                        }
                        _ = try pair.client.shutdown()
                        pair.transfer(from: pair.client, to: pair.server)
                        guard tally.policyRunsOnThisThread() > before else {
                            tally.fail("\(name) #\(t)/\(i): the policy did not run")
                            continue
                        }
                        guard pair.client.connectionInfo?.peerLeafCertificate == expectedLeaf[name] else {
                            tally.fail("\(name) #\(t)/\(i): wrong chain for the name")
                            continue
                        }
                        tally.succeeded.add(1, ordering: .relaxed)
                        if pair.client.connectionInfo?.resumed == true {
                            tally.resumed.add(1, ordering: .relaxed)
                            if rotationsBefore > 0 { tally.resumedAfterRotation.add(1, ordering: .relaxed) }
                        }
                    } catch {
                        tally.fail("\(name) #\(t)/\(i): \(error)")
                    }
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        // Waits without holding one of the few threads that run tasks (other tests need them).
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in group.notify(queue: .global()) { done.resume() } }
        rotation.stop.store(true, ordering: .relaxed)
        let total = Self.threads * perThread
        let elapsed = ContinuousClock.now - started
        print(
            "stress \(backend): \(tally.succeeded.load(ordering: .relaxed))/\(total) handshakes in \(elapsed), "
                + "\(tally.resumed.load(ordering: .relaxed)) resumed, \(rotation.generation.load(ordering: .relaxed)) key rotations")

        #expect(tally.failures.withLock { $0 } == [])
        #expect(tally.succeeded.load(ordering: .relaxed) == total)
        // Each client context keeps one ticket per name and 32 threads take them, so many
        // handshakes find none; a tenth resuming shows tickets flow under load.
        #expect(tally.resumed.load(ordering: .relaxed) > total / 10, "resumption happened under load")
        #expect(rotation.generation.load(ordering: .relaxed) >= 1, "the ticket keys rotated during the run")
        #expect(tally.resumedAfterRotation.load(ordering: .relaxed) > 0, "tickets still resume after a rotation")
        #expect(tally.policyRuns.withLock { $0.values.reduce(0, +) } >= total)
        #expect(tally.clientKeyLogLines.load(ordering: .relaxed) >= total)
        #expect(tally.serverKeyLogLines.load(ordering: .relaxed) >= total)
    }

    // MARK: - Lifetimes

    /// The last reference to a backend's library context may be dropped on any thread,
    /// e.g. a SwiftNIO event loop releasing the last connection after the application let go
    /// of the backend and its contexts. Everything OpenSSL made from that library context
    /// (SSL_CTX, fetched ciphers, sessions) must be freed before it. (ASan reports a
    /// heap-use-after-free otherwise.)
    @Test(arguments: TestBackends.all)
    func connectionsOutliveTheirContextsAndBackend(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        final class Holder: @unchecked Sendable {
            // @unchecked: handed to one other thread, which drops it.
            var pairs: [ConnectionPair] = []
        }
        let holder = Holder()
        do {
            let made = try backend.make()
            var serverConfig = TLSServerConfiguration(certificateChains: [pki.ecdsa.identity.signingChain, pki.rsa.identity.signingChain])
            serverConfig.ticketKeyLifetime = .seconds(60)
            let server = try made.makeServerContext(serverConfig)
            let client = try made.makeClientContext(TLSClientConfiguration(trustStore: pki.ca.trustStore))
            for _ in 0..<3 {  // full, then resumed: tickets and sessions exist too
                let pair = try ConnectionPair(client: client, server: server, serverName: "localhost")
                #expect(pair.handshake())
                #expect(try pair.send([1], from: pair.server) == [1])
                holder.pairs.append(pair)
            }
        }
        // Only the connections hold the contexts (and they the backend) now; the last
        // reference goes on another thread.
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            holder.pairs.removeAll()
            done.signal()
        }
        done.wait()
    }

    /// A thread that used a backend (every handshake draws random numbers, and OpenSSL 3.0
    /// then registers a thread-exit handler for the library context's per-thread DRBG) and
    /// exits after the application dropped the backend, its contexts and connections: an
    /// event-loop or dispatch thread retiring later. OpenSSL 3.0 runs the handler on the
    /// freed OSSL_LIB_CTX (openssl/openssl#16778) and crashes at thread exit, so TLSKit must
    /// not free a library context that other threads may have used.
    @Test(arguments: 0..<3)
    func threadsExitAfterTheBackendIsGone(round: Int) throws {
        let pki = InteropPKI.shared
        let used = DispatchSemaphore(value: 0)
        let exit = DispatchSemaphore(value: 0)
        let exited = DispatchSemaphore(value: 0)
        let ok = Locked(false)
        let box = Locked<ConnectionPair?>(nil)
        do {
            let backend = try OpenSSLBackend()
            let server = try backend.makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
            let client = try backend.makeClientContext(TLSClientConfiguration(trustStore: pki.ca.trustStore))
            let pair = try ConnectionPair(client: client, server: server, serverName: "localhost")
            box.withLock { $0 = pair }
        }
        let worker = Thread {
            do {
                let pair = box.withLock { $0 }!
                let done = pair.handshake()
                ok.withLock { $0 = done }
            }
            used.signal()
            exit.wait()  // outlive the backend
            exited.signal()
        }
        worker.start()
        used.wait()
        #expect(ok.withLock { $0 })
        // Drop the last reference here, on another thread than the worker's (on its own
        // thread OpenSSL cleans up), then let the worker exit and its exit handlers run.
        box.withLock { $0 = nil }
        exit.signal()
        exited.wait()
        Thread.sleep(forTimeInterval: 0.2)
    }

}

/// A value behind a pthread mutex (NSLock), in a class that escaping closures and tasks
/// can share. Not `Synchronization.Mutex`: on Linux it locks with atomics inside the
/// uninstrumented Swift runtime, so ThreadSanitizer does not see it and reports every
/// access it protects as a race (scripts/sanitizers/README.md).
final class Locked<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched under `lock`.
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// A plain TCP connect to 127.0.0.1 (the listener test needs no TLS on the client side).
enum POSIXConnect {
    static func to(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            Glibc.close(fd)
            throw TLSError(.io, "connect to 127.0.0.1:\(port) failed: errno \(errno)")
        }
        return fd
    }
}
