import Foundation
import TLSKit
import TLSKitIO
import TLSKitTestSupport
import Testing

@testable import TLSKitOpenSSL

/// `.systemDefault` follows the system's policy: OpenSSL's `system_default` section of
/// `OPENSSL_CONF`/openssl.cnf, GnuTLS's `@SYSTEM` priority; `.modern`, `.compatible` and
/// explicit settings do not.
@Suite("The system's TLS policy", .timeLimit(.minutes(2)))
struct SystemPolicyTests {
    static func write(_ text: String, in dir: URL, name: String) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// An OpenSSL configuration whose `system_default` section holds `commands`.
    static func openSSLConfig(_ commands: String) -> String {
        """
        openssl_conf = openssl_init
        [openssl_init]
        ssl_conf = ssl_sect
        [ssl_sect]
        system_default = system_default_sect
        [system_default_sect]
        \(commands)

        """
    }

    static func client(_ version: TLSProtocolVersion) -> TLSClientConfiguration {
        var client = Fixtures.clientConfig()
        client.minimumVersion = version
        client.maximumVersion = version
        return client
    }

    static func handshake(
        _ client: TLSClientConfiguration, _ server: TLSServerConfiguration, serverBackend: OpenSSLBackend
    ) throws -> Bool {
        let pair = try ConnectionPair(
            client: OpenSSLBackend().makeClientContext(client), server: serverBackend.makeServerContext(server))
        return pair.handshake()
    }

    // MARK: OpenSSL, in process

    @Test func openSSLSystemDefaultFollowsTheSystemsMinProtocol() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tls13Only = try OpenSSLBackend(
            systemConfigurationForTesting: Self.write(Self.openSSLConfig("MinProtocol = TLSv1.3"), in: dir, name: "tls13.cnf"))
        let noPolicy = try OpenSSLBackend(
            systemConfigurationForTesting: Self.write("openssl_conf = openssl_init\n[openssl_init]\n", in: dir, name: "none.cnf"))

        #expect(try !Self.handshake(Self.client(.tls1_2), Fixtures.serverConfig(), serverBackend: tls13Only))
        #expect(try Self.handshake(Self.client(.tls1_3), Fixtures.serverConfig(), serverBackend: tls13Only))
        // Control: without the policy the same TLS 1.2 client gets in.
        #expect(try Self.handshake(Self.client(.tls1_2), Fixtures.serverConfig(), serverBackend: noPolicy))
        // .compatible keeps TLSKit's explicit settings: TLS 1.2 still works on the TLS 1.3-only system.
        var compatible = Fixtures.serverConfig()
        compatible.securityPolicy = .compatible
        #expect(try Self.handshake(Self.client(.tls1_2), compatible, serverBackend: tls13Only))
        // A configuration asking only for what the system forbids is refused, naming the file.
        var tls12Server = Fixtures.serverConfig()
        tls12Server.maximumVersion = .tls1_2
        #expect {
            _ = try tls13Only.makeServerContext(tls12Server)
        } throws: { error in
            guard let error = error as? TLSError else { return false }
            return error.code == .configuration && error.message.contains("tls13.cnf") && error.message.contains("MinProtocol")
        }
    }

    @Test func openSSLSystemDefaultFollowsTheSystemsCipherStringButExplicitSuitesWin() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let aes256Only = try OpenSSLBackend(
            systemConfigurationForTesting: Self.write(
                Self.openSSLConfig("CipherString = ECDHE-ECDSA-AES256-GCM-SHA384"), in: dir, name: "aes256.cnf"))
        var client = Self.client(.tls1_2)
        client.cipherSuites = [.ecdheECDSAWithAES128GCMSHA256]
        #expect(try !Self.handshake(client, Fixtures.serverConfig(), serverBackend: aes256Only))
        var explicit = Fixtures.serverConfig()
        explicit.maximumVersion = .tls1_2
        explicit.cipherSuites = [.ecdheECDSAWithAES128GCMSHA256]
        #expect(try Self.handshake(client, explicit, serverBackend: aes256Only))
    }

    @Test func openSSLTLSKitsExclusionsApplyOnTopOfTheSystemsCipherString() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A system policy of anonymous suites only leaves TLSKit nothing: refused, not used.
        let anonymous = try OpenSSLBackend(
            systemConfigurationForTesting: Self.write(
                Self.openSSLConfig("CipherString = aNULL"), in: dir, name: "anon.cnf"))
        #expect {
            _ = try anonymous.makeServerContext(Fixtures.serverConfig())
        } throws: { error in
            guard let error = error as? TLSError else { return false }
            return error.code == .configuration && error.message.contains("anon.cnf") && error.message.contains("aNULL")
        }
        // .modern does not read the system policy at all.
        var modern = Fixtures.serverConfig()
        modern.securityPolicy = .modern
        _ = try anonymous.makeServerContext(modern)
    }

    @Test func openSSLABrokenOrMissingSystemConfigurationFailsClosed() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let broken = try OpenSSLBackend(
            systemConfigurationForTesting: Self.write(
                Self.openSSLConfig("MinProtocol = TLSv9"), in: dir, name: "bad-value.cnf"))
        #expect {
            _ = try broken.makeClientContext(Fixtures.clientConfig())
        } throws: { error in
            (error as? TLSError)?.message.contains("bad-value.cnf") == true && (error as? TLSError)?.message.contains("MinProtocol") == true
        }
        let unparsable = try OpenSSLBackend(
            systemConfigurationForTesting: Self.write(
                "openssl_conf = openssl_init\n[openssl_init\n", in: dir, name: "unparsable.cnf"))
        #expect(throws: TLSError.self) { _ = try unparsable.makeClientContext(Fixtures.clientConfig()) }
        #expect(throws: TLSError.self) {
            _ = try OpenSSLBackend(systemConfigurationForTesting: dir.appendingPathComponent("missing.cnf").path)
                .makeClientContext(Fixtures.clientConfig())
        }
        // The other policies build from the same backend.
        var compatible = Fixtures.clientConfig()
        compatible.securityPolicy = .compatible
        _ = try broken.makeClientContext(compatible)
    }

    // MARK: Both backends, through the environment, in a child process

    /// `tlskit serve` with `environment` set from the start (GnuTLS reads its priority file
    /// when the library loads, so only a fresh process can show it), and an in-process
    /// OpenSSL client at `version`. Returns whether the handshake succeeded, or `nil` when
    /// the server did not start (and what it printed).
    static func serveAndConnect(
        backend: String, environment: [String: String], policy: String?, version: TLSProtocolVersion
    ) throws -> (handshake: Bool?, stderr: String) {
        let tlskit = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("tlskit").path
        try #require(
            FileManager.default.isExecutableFile(atPath: tlskit),
            "\(tlskit) is missing: build everything first (swift build --traits GnuTLS --build-tests)")
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let paths = try Fixtures.server.write(to: dir, name: "server")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tlskit)
        process.arguments =
            ["serve", "--backend", backend, "--listen", "127.0.0.1:0", "--cert", paths.certificate, "--key", paths.key]
            + (policy.map { ["--policy", $0] } ?? [])
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        defer {
            // SIGKILL: a child spawned from a test thread inherits that thread's blocked
            // signals, SIGTERM included, so terminate() would wait forever.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        var printed = ""
        var port: UInt16?
        while port == nil {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }  // the server exited
            printed += String(decoding: chunk, as: UTF8.self)
            port =
                printed.split(separator: "\n").lazy.compactMap { line in
                    line.hasPrefix("listening on 127.0.0.1:") ? UInt16(line.dropFirst("listening on 127.0.0.1:".count)) : nil
                }.first
        }
        guard let listening = port else {
            return (nil, String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        let context = try OpenSSLBackend().makeClientContext(Self.client(version))
        do {
            let socket = try TLSSocket.connect(
                host: "127.0.0.1", port: listening, context: context, serverName: try TLSServerName("localhost"),
                timeout: .seconds(20))
            socket.close()
            return (true, "")
        } catch {
            return (false, "")
        }
    }

    static func handshakes(_ backend: String, _ env: [String: String], _ policy: String?, _ version: TLSProtocolVersion) throws -> Bool? {
        let result = try serveAndConnect(backend: backend, environment: env, policy: policy, version: version)
        if result.handshake == nil { Issue.record("tlskit serve --backend \(backend) did not start: \(result.stderr)") }
        return result.handshake
    }

    @Test func openSSLSystemDefaultFollowsOPENSSL_CONFInAFreshProcess() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let conf = try Self.write(Self.openSSLConfig("MinProtocol = TLSv1.3"), in: dir, name: "openssl.cnf")
        let env = ["OPENSSL_CONF": conf]
        #expect(try Self.handshakes("openssl", env, nil, .tls1_2) == false)
        #expect(try Self.handshakes("openssl", env, nil, .tls1_3) == true)
        #expect(try Self.handshakes("openssl", env, "compatible", .tls1_2) == true)
        #expect(try Self.handshakes("openssl", [:], nil, .tls1_2) == true)
    }

    #if GnuTLS
    @Test func gnuTLSSystemDefaultFollowsTheSystemPriorityFileInAFreshProcess() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try Self.write("[priorities]\nSYSTEM = NORMAL:-VERS-ALL:+VERS-TLS1.3\n", in: dir, name: "gnutls.config")
        let env = ["GNUTLS_SYSTEM_PRIORITY_FILE": file]
        #expect(try Self.handshakes("gnutls", env, nil, .tls1_2) == false)
        #expect(try Self.handshakes("gnutls", env, nil, .tls1_3) == true)
        #expect(try Self.handshakes("gnutls", env, "compatible", .tls1_2) == true)
        // Control: a file without SYSTEM falls back to NORMAL (TLS 1.2 allowed).
        let other = try Self.write("[priorities]\nOTHER = NORMAL\n", in: dir, name: "other.config")
        #expect(try Self.handshakes("gnutls", ["GNUTLS_SYSTEM_PRIORITY_FILE": other], nil, .tls1_2) == true)
        // A SYSTEM line GnuTLS refuses fails closed: the server does not start, and says why.
        let broken = try Self.write("[priorities]\nSYSTEM = NORMAL:+VERS-BOGUS\n", in: dir, name: "broken.config")
        let refused = try Self.serveAndConnect(
            backend: "gnutls", environment: ["GNUTLS_SYSTEM_PRIORITY_FILE": broken], policy: nil, version: .tls1_3)
        #expect(refused.handshake == nil)
        #expect(refused.stderr.contains("broken.config"), "\(refused.stderr)")
    }
    #endif
}
