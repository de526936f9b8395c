import Foundation
import TLSKit
import TLSKitTestSupport
import Testing

/// TLSContextCache: one context per distinct configuration, bounded, shared across threads,
/// built with the cache's hooks.
@Suite("Context cache")
struct ContextCacheTests {
    @Test(arguments: TestBackends.all)
    func anEqualConfigurationGetsTheSameContextAndADifferentOneANewContext(backend: BackendUnderTest) throws {
        let cache = TLSContextCache(backend: try backend.make())
        let first = try cache.clientContext(for: Fixtures.clientConfig())
        let again = try cache.clientContext(for: Fixtures.clientConfig())
        #expect(first === again)
        var other = Fixtures.clientConfig()
        other.maximumVersion = .tls1_2
        let different = try cache.clientContext(for: other)
        #expect(different !== first)
        let server = try cache.serverContext(for: Fixtures.serverConfig())
        #expect(server === (try cache.serverContext(for: Fixtures.serverConfig())))
        #expect(cache.count == 3 && cache.builds == 3)
        // The cached contexts work.
        let pair = try ConnectionPair(client: again, server: server)
        #expect(pair.handshake())
    }

    @Test func theLeastRecentlyUsedEntryIsDroppedWhenFull() throws {
        let cache = TLSContextCache(backend: try TestBackends.all[0].make(), capacity: 2)
        var a = Fixtures.clientConfig()
        a.maximumVersion = .tls1_2
        var b = Fixtures.clientConfig()
        b.minimumVersion = .tls1_3
        let c = Fixtures.clientConfig()
        let contextA = try cache.clientContext(for: a)
        let contextB = try cache.clientContext(for: b)
        _ = try cache.clientContext(for: a)  // a is now more recent than b
        _ = try cache.clientContext(for: c)  // evicts b
        #expect(cache.count == 2)
        #expect(try cache.clientContext(for: a) === contextA)
        #expect(try cache.clientContext(for: b) !== contextB)  // rebuilt
        #expect(cache.builds == 4)
    }

    @Test func failuresAreNotCachedAndRemoveAllForgets() throws {
        let cache = TLSContextCache(backend: try TestBackends.all[0].make())
        var bad = Fixtures.clientConfig()
        bad.trustStore = .file("/nonexistent/ca.pem")
        #expect(throws: TLSError.self) { _ = try cache.clientContext(for: bad) }
        #expect(cache.count == 0)
        let first = try cache.clientContext(for: Fixtures.clientConfig())
        cache.removeAll()
        #expect(cache.count == 0)
        #expect(try cache.clientContext(for: Fixtures.clientConfig()) !== first)
    }

    @Test(arguments: TestBackends.all)
    func everyCachedContextUsesTheCachesHooks(backend: BackendUnderTest) throws {
        let b = try backend.make()
        let rejecting = TLSContextCache(
            backend: b, hooks: TLSContextHooks(verifyPeer: { _ in .reject("not this one") }))
        for _ in 0..<2 {  // built, then from the cache
            let pair = try ConnectionPair(
                client: rejecting.clientContext(for: Fixtures.clientConfig()),
                server: b.makeServerContext(Fixtures.serverConfig()))
            #expect(!pair.handshake())
            #expect(pair.clientError?.verificationFailure?.reason == .rejectedByHook)
        }
        #expect(rejecting.builds == 1)
    }

    @Test func manyThreadsShareOneContextPerConfiguration() throws {
        let cache = TLSContextCache(backend: try TestBackends.all[0].make())
        let configurations = (0..<4).map { i -> TLSClientConfiguration in
            var c = Fixtures.clientConfig()
            c.applicationProtocols = [TLSApplicationProtocol("p\(i)")!]
            return c
        }
        final class Seen: @unchecked Sendable {
            // @unchecked: guarded by `lock`.
            let lock = NSLock()
            var identities: [Int: Set<ObjectIdentifier>] = [:]
        }
        let seen = Seen()
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            guard let context = try? cache.clientContext(for: configurations[i % 4]) else { return }
            seen.lock.withLock { _ = seen.identities[i % 4, default: []].insert(ObjectIdentifier(context)) }
        }
        let identities = seen.identities
        #expect(identities.count == 4)
        #expect(identities.values.allSatisfy { $0.count == 1 })
        #expect(cache.count == 4)
    }

    /// Not a timed assertion: prints what a cached context saves, per backend.
    @Test(arguments: TestBackends.all)
    func measureColdAgainstCached(backend: BackendUnderTest) throws {
        let b = try backend.make()
        let config = Fixtures.clientConfig()
        let rounds = 200
        let clock = ContinuousClock()
        let cold = try clock.measure {
            for _ in 0..<rounds { _ = try b.makeClientContext(config) }
        }
        let cache = TLSContextCache(backend: b)
        _ = try cache.clientContext(for: config)
        let cached = try clock.measure {
            for _ in 0..<rounds { _ = try cache.clientContext(for: config) }
        }
        func perCall(_ d: Duration) -> Double {
            Double(d.components.seconds) * 1e6 / Double(rounds) + Double(d.components.attoseconds) / 1e12 / Double(rounds)
        }
        print(
            "context cache [\(backend)]: makeClientContext cold \(String(format: "%.1f", perCall(cold))) µs, "
                + "cached \(String(format: "%.2f", perCall(cached))) µs per call (\(rounds) calls, in-memory trust store)")
        #expect(cache.builds == 1)
    }
}
