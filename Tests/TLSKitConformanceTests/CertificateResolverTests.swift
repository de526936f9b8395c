import Foundation
import Synchronization
import TLSKit
import TLSKitTestSupport
import Testing

/// The server's certificate resolver (a chain per ClientHello) and certificate rotation
/// (`replaceCertificateChains`), on each backend, TLS 1.2 and 1.3.
@Suite("Certificate resolver and rotation")
struct CertificateResolverTests {
    static let ecdsa = try! Fixtures.root.issue(commonName: "ecdsa", dnsNames: ["shop.test"], ipAddresses: [], usage: .server)
    static let rsa = try! Fixtures.rsaRoot.issue(
        commonName: "rsa", dnsNames: ["shop.test"], ipAddresses: [], keyType: .rsa2048, usage: .server)
    static let tenant = try! Fixtures.root.issue(commonName: "tenant", dnsNames: ["tenant.test"], ipAddresses: [], usage: .server)

    static func client(_ version: TLSProtocolVersion, alpn: [TLSApplicationProtocol] = []) -> TLSClientConfiguration {
        var config = TLSClientConfiguration(trustStore: .pem(Fixtures.root.certificatePEM + "\n" + Fixtures.rsaRoot.certificatePEM))
        config.minimumVersion = version
        config.maximumVersion = version
        config.applicationProtocols = alpn
        return config
    }

    static func server(hooks: TLSContextHooks, backend: BackendUnderTest, alpn: [TLSApplicationProtocol] = []) throws -> any TLSServerContext {
        var config = TLSServerConfiguration(certificateChain: Fixtures.server.signingChain)
        config.applicationProtocols = alpn
        return try backend.make().makeServerContext(config, hooks: hooks)
    }

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func theResolverSeesTheClientHelloAndPicksTheChain(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        let seen = Mutex<[TLSClientHelloInfo]>([])
        var hooks = TLSContextHooks()
        hooks.certificateResolver = { hello in
            seen.withLock { $0.append(hello) }
            switch hello.serverName {
            case "tenant.test": return .chain(Self.tenant.signingChain)
            case "shop.test":
                // ECDSA where the client can check it, RSA-PSS otherwise.
                return hello.accepts(anyOf: [.ecdsaSecp256r1SHA256]) ? .chain(Self.ecdsa.signingChain) : .chain(Self.rsa.signingChain)
            default: return .configured
            }
        }
        let server = try Self.server(hooks: hooks, backend: backend, alpn: ["h2", "http/1.1"])
        let client = try backend.make().makeClientContext(Self.client(version, alpn: ["h2", "http/1.1"]))
        for (name, expected) in [("tenant.test", Self.tenant), ("shop.test", Self.ecdsa), ("localhost", Fixtures.server)] {
            let pair = try ConnectionPair(client: client, server: server, serverName: name)
            #expect(pair.handshake(), "\(name): \(String(describing: pair.clientError)) / \(String(describing: pair.serverError))")
            #expect(pair.client.connectionInfo?.peerLeafCertificate == expected.certificateDER, "\(name)")
            #expect(pair.client.connectionInfo?.applicationProtocol == "h2")
        }
        let hellos = seen.withLock { $0 }
        #expect(hellos.map(\.serverName) == ["tenant.test", "shop.test", "localhost"])
        for hello in hellos {
            #expect(hello.applicationProtocols == ["h2", "http/1.1"])
            #expect(hello.signatureSchemes.contains(.ecdsaSecp256r1SHA256), "\(hello.signatureSchemes)")
            #expect(hello.signatureSchemes.contains(.rsaPSSRSAESHA256), "\(hello.signatureSchemes)")
        }
    }

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func aRejectionSendsUnrecognizedName(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        var hooks = TLSContextHooks()
        hooks.certificateResolver = { hello in hello.serverName == "localhost" ? .configured : .reject("no tenant named \(hello.serverName ?? "-")") }
        let server = try Self.server(hooks: hooks, backend: backend)
        let client = try backend.make().makeClientContext(Self.client(version))
        let pair = try ConnectionPair(client: client, server: server, serverName: "unknown.test")
        #expect(!pair.handshake())
        #expect(pair.clientError?.alert == .unrecognizedName, "\(String(describing: pair.clientError))")
        #expect(pair.serverError?.code == .handshake)
        #expect(pair.serverError?.feature == "certificateResolver")
        #expect(pair.serverError?.message.contains("no tenant named unknown.test") == true, "\(String(describing: pair.serverError))")
        // The same context serves a name the resolver accepts.
        let good = try ConnectionPair(client: client, server: server, serverName: "localhost")
        #expect(good.handshake())
    }

    @Test(arguments: TestBackends.all)
    func aChainThatDoesNotLoadFailsThatHandshakeWithTheCause(backend: BackendUnderTest) throws {
        var hooks = TLSContextHooks()
        let missing = TLSSigningChain(certificate: .file("/nonexistent/tenant.pem"), privateKey: .file("/nonexistent/tenant.key"))
        hooks.certificateResolver = { _ in .chain(missing) }
        let server = try Self.server(hooks: hooks, backend: backend)
        let pair = try ConnectionPair(client: try backend.make().makeClientContext(Self.client(.tls1_3)), server: server, serverName: "tenant.test")
        #expect(!pair.handshake())
        #expect(pair.clientError?.alert == .internalError, "\(String(describing: pair.clientError))")
        #expect(pair.serverError?.code == .configuration)
        #expect(pair.serverError?.feature == "certificateResolver")
        #expect(pair.serverError?.message.contains("/nonexistent/tenant.pem") == true, "\(String(describing: pair.serverError))")
    }

    @Test(arguments: TestBackends.all)
    func resolvedChainsAreLoadedOnce(backend: BackendUnderTest) throws {
        // A chain from a file: after the first handshake the file is gone, and later
        // handshakes still present it (loaded once, kept by its description).
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (certificate, key) = try Self.tenant.write(to: directory, name: "tenant")
        let chain = TLSSigningChain(certificate: .file(certificate), privateKey: .file(key))
        var hooks = TLSContextHooks()
        hooks.certificateResolver = { _ in .chain(chain) }
        let server = try Self.server(hooks: hooks, backend: backend)
        let client = try backend.make().makeClientContext(Self.client(.tls1_3))
        for round in 0..<3 {
            let pair = try ConnectionPair(client: client, server: server, serverName: "tenant.test")
            #expect(pair.handshake(), "round \(round): \(String(describing: pair.serverError))")
            #expect(pair.client.connectionInfo?.peerLeafCertificate == Self.tenant.certificateDER)
            try "not a certificate".write(toFile: certificate, atomically: true, encoding: .utf8)
        }
        // A reload forgets loaded chains: the broken file is read again and fails.
        try server.replaceCertificateChains([Fixtures.server.signingChain])
        let after = try ConnectionPair(client: client, server: server, serverName: "tenant.test")
        #expect(!after.handshake())
        #expect(after.serverError?.feature == "certificateResolver")
    }

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func rotationServesNewConnectionsAndKeepsOpenOnes(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        let old = try Fixtures.root.issue(commonName: "old", dnsNames: ["localhost"], ipAddresses: [], usage: .server)
        let new = try Fixtures.root.issue(commonName: "new", dnsNames: ["localhost"], ipAddresses: [], usage: .server)
        let b = try backend.make()
        let server = try b.makeServerContext(TLSServerConfiguration(certificateChain: old.signingChain))
        var config = Self.client(version)
        config.resumesSessions = true
        let client = try b.makeClientContext(config)

        // An open connection, mid-handshake at the swap: its ClientHello is in, the
        // server has answered with the old chain.
        let midway = try ConnectionPair(client: client, server: server)
        _ = try? midway.client.handshake()
        #expect(midway.transfer(from: midway.client, to: midway.server) > 0)
        _ = try? midway.server.handshake()
        let established = try ConnectionPair(client: client, server: server)
        #expect(established.handshake())
        #expect(try established.send(Array("before".utf8), from: established.server) == Array("before".utf8))  // and its ticket

        try server.replaceCertificateChains([new.signingChain])
        #expect(server.configuration.certificateChains == [new.signingChain])

        #expect(midway.handshake(), "\(String(describing: midway.clientError)) / \(String(describing: midway.serverError))")
        #expect(midway.client.connectionInfo?.peerLeafCertificate == old.certificateDER)
        #expect(try established.send(Array("after".utf8), from: established.client) == Array("after".utf8))
        #expect(try established.send(Array("after".utf8), from: established.server) == Array("after".utf8))

        // A new full handshake gets the new chain; a ticket from before still resumes.
        let fresh = try ConnectionPair(client: try b.makeClientContext(Self.client(version)), server: server)
        #expect(fresh.handshake())
        #expect(fresh.client.connectionInfo?.peerLeafCertificate == new.certificateDER)
        let resumed = try ConnectionPair(client: client, server: server)
        #expect(resumed.handshake())
        #expect(resumed.client.connectionInfo?.resumed == true, "tickets survive a rotation")
    }

    @Test(arguments: TestBackends.all)
    func aRotationThatDoesNotLoadKeepsTheOldChains(backend: BackendUnderTest) throws {
        let b = try backend.make()
        let server = try b.makeServerContext(Fixtures.serverConfig())
        let broken = TLSSigningChain(
            certificate: .pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), privateKey: Fixtures.server.signingChain.privateKey)
        let error = #expect(throws: TLSError.self) { try server.replaceCertificateChains([Fixtures.server.signingChain, broken]) }
        #expect(error?.code == .configuration)
        #expect(error?.feature?.hasPrefix("certificateChains[1]") == true, "\(String(describing: error))")
        #expect(throws: TLSError.self) { try server.replaceCertificateChains([]) }
        #expect(server.configuration.certificateChains == [Fixtures.server.signingChain])
        let pair = try ConnectionPair(client: try b.makeClientContext(Fixtures.clientConfig()), server: server)
        #expect(pair.handshake())
        #expect(pair.client.connectionInfo?.peerLeafCertificate == Fixtures.server.certificateDER)
    }

    @Test(arguments: TestBackends.all)
    func rotationUnderLoadNeverMixesChains(backend: BackendUnderTest) throws {
        let chains = try (0..<4).map { i in
            try Fixtures.root.issue(commonName: "gen-\(i)", dnsNames: ["localhost"], ipAddresses: [], usage: .server)
        }
        let b = try backend.make()
        let server = try b.makeServerContext(TLSServerConfiguration(certificateChain: chains[0].signingChain))
        let client = try b.makeClientContext(Self.client(.tls1_3))
        let valid = Set(chains.map(\.certificateDER))
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 5) { worker in
            for round in 0..<40 {
                if worker == 0 {
                    if round % 10 == 0 { try? server.replaceCertificateChains([chains[(round / 10) % 4].signingChain]) }
                    continue
                }
                guard let pair = try? ConnectionPair(client: client, server: server), pair.handshake(),
                    let leaf = pair.client.connectionInfo?.peerLeafCertificate, valid.contains(leaf)
                else {
                    failures.withLock { $0 += 1 }
                    continue
                }
            }
        }
        #expect(failures.withLock { $0 } == 0)
    }
}

/// The resolver's cache of loaded chains.
@Suite("Resolved-chain cache")
struct ResolvedChainCacheTests {
    final class Loaded: Sendable {}

    /// A reload while a chain is read (the files may already have changed): that chain
    /// serves its handshake but is not kept, so the next handshake reads the files again.
    @Test func aChainReadDuringAReloadIsNotKept() throws {
        let cache = TLSResolvedChains<Loaded>(capacity: 4)
        let chain = Fixtures.server.signingChain
        _ = try cache.loaded(chain) { _ throws(TLSError) in
            cache.removeAll()  // what replaceCertificateChains does, from another thread
            return Loaded()
        }
        #expect(cache.count == 0)
        var loads = 0
        for _ in 0..<3 {
            _ = try cache.loaded(chain) { _ throws(TLSError) in
                loads += 1
                return Loaded()
            }
        }
        #expect(loads == 1)
        #expect(cache.count == 1)
    }

    @Test func theLeastRecentlyUsedChainIsDropped() throws {
        let cache = TLSResolvedChains<Loaded>(capacity: 2)
        let chains = try (0..<3).map { i in try Fixtures.root.issue(commonName: "c\(i)", usage: .server).signingChain }
        var loads = 0
        func use(_ i: Int) throws {
            _ = try cache.loaded(chains[i]) { _ throws(TLSError) in
                loads += 1
                return Loaded()
            }
        }
        try use(0)
        try use(1)
        try use(0)  // 1 is now the least recently used
        try use(2)  // drops 1
        try use(0)
        #expect(loads == 3)
        try use(1)
        #expect(loads == 4)
        #expect(cache.count == 2)
    }
}

/// The ClientHello extension readers, on hand-made and malformed bodies.
@Suite("ClientHello extension readers")
struct ClientHelloExtensionTests {
    func read<T>(_ bytes: [UInt8], _ reader: (UnsafeRawBufferPointer) -> T) -> T { bytes.withUnsafeBytes(reader) }

    @Test func readsWellFormedBodies() {
        #expect(read([0, 4, 0x04, 0x03, 0x08, 0x04], TLSClientHelloExtensions.signatureSchemes) == [.ecdsaSecp256r1SHA256, .rsaPSSRSAESHA256])
        #expect(read([0, 12, 2, 0x68, 0x32, 8] + Array("http/1.1".utf8), TLSClientHelloExtensions.applicationProtocols) == ["h2", "http/1.1"])
        let name = Array("Shop.Test.".utf8)
        #expect(read([0, UInt8(name.count + 3), 0, 0, UInt8(name.count)] + name, TLSClientHelloExtensions.serverName) == "shop.test")
    }

    @Test func malformedBodiesGiveNothing() {
        #expect(read([0, 3, 0x04, 0x03, 0x08], TLSClientHelloExtensions.signatureSchemes).isEmpty)
        #expect(read([0, 9, 0x04], TLSClientHelloExtensions.signatureSchemes).isEmpty)
        #expect(read([0, 4, 5, 0x68, 0x32, 0x33], TLSClientHelloExtensions.applicationProtocols).isEmpty)
        #expect(read([0, 1, 0], TLSClientHelloExtensions.applicationProtocols).isEmpty)
        #expect(read([0, 6, 0, 0, 3, 0x61, 0x00, 0x62], TLSClientHelloExtensions.serverName) == nil)  // NUL in the name
        #expect(read([0, 8, 0, 0, 9, 0x61], TLSClientHelloExtensions.serverName) == nil)
        #expect(read([0, 10, 0, 0, 7] + Array("1.2.3.4".utf8), TLSClientHelloExtensions.serverName) == nil)  // not a DNS name
        #expect(read([], TLSClientHelloExtensions.serverName) == nil)
    }
}
