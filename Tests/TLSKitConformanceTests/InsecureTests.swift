import Foundation
import Logging
import Synchronization
import TLSKit
import TLSKitInsecure
import TLSKitTestSupport
import Testing

/// TLSKitInsecure: the only way to switch checks off, loudly; and key logging.
@Suite("Insecure module")
struct InsecureTests {
    @Test(arguments: TestBackends.all)
    func noHostnameCheckStillVerifiesTheChain(backend: BackendUnderTest) throws {
        let b = try backend.make()
        var config = Fixtures.clientConfig()
        config.insecurelyDisableHostnameVerification()
        let pair = try ConnectionPair(
            client: b.makeClientContext(config), server: b.makeServerContext(Fixtures.serverConfig()), serverName: "wrong.example")
        #expect(pair.handshake(), "\(String(describing: pair.clientError))")
        #expect(pair.client.connectionInfo?.peerVerification == .insecurelySkipped)

        var untrusted = Fixtures.clientConfig(trusting: Fixtures.otherRoot)
        untrusted.insecurelyDisableHostnameVerification()
        let refused = try ConnectionPair(client: b.makeClientContext(untrusted), server: b.makeServerContext(Fixtures.serverConfig()))
        #expect(!refused.handshake())
        #expect(refused.clientError?.verificationFailure?.reason == .unknownIssuer)
    }

    @Test(arguments: TestBackends.all)
    func noVerificationAcceptsAnything(backend: BackendUnderTest) throws {
        let b = try backend.make()
        var config = Fixtures.clientConfig(trusting: Fixtures.otherRoot)
        config.insecurelyDisableCertificateVerification()
        let pair = try ConnectionPair(
            client: b.makeClientContext(config), server: b.makeServerContext(Fixtures.serverConfig()), serverName: "wrong.example")
        #expect(pair.handshake(), "\(String(describing: pair.clientError))")
        #expect(pair.client.connectionInfo?.peerVerification == .insecurelySkipped)
        #expect(pair.client.connectionInfo?.peerLeafCertificate == Fixtures.server.certificateDER)
    }

    @Test(arguments: TestBackends.all)
    func skippingTheChainButCheckingTheNameIsRefused(backend: BackendUnderTest) throws {
        var config = Fixtures.clientConfig()
        config.backendOptions[TLSInsecure.VerificationKey.self] = TLSInsecure.Verification(checksHostname: true, verifiesCertificate: false)
        let error = #expect(throws: TLSError.self) { try backend.make().validate(config) }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("refused") == true)
    }

    /// An option that merely looks like the insecure one (same backend name) disables nothing:
    /// only TLSKitInsecure's own key type is honoured.
    enum LookAlike: TLSBackendOptionKey {
        typealias Value = Bool
        static let backendName = "insecure"
    }

    @Test(arguments: TestBackends.all)
    func nothingOutsideTLSKitInsecureDisablesVerification(backend: BackendUnderTest) throws {
        let b = try backend.make()
        var config = Fixtures.clientConfig()
        config.backendOptions[LookAlike.self] = true
        config.securityPolicy = .compatible
        let pair = try ConnectionPair(
            client: b.makeClientContext(config), server: b.makeServerContext(Fixtures.serverConfig()), serverName: "wrong.example")
        #expect(!pair.handshake())
        #expect(pair.clientError?.verificationFailure?.reason == .hostnameMismatch)
    }

    @Test(arguments: TestBackends.all)
    func everyInsecureContextLogsAWarning(backend: BackendUnderTest) throws {
        let captured = PolicyWarningTests.Captured()
        var hooks = TLSContextHooks(logger: Logger(label: "t") { _ in PolicyWarningTests.CapturingHandler(captured: captured) })
        var config = Fixtures.clientConfig()
        config.insecurelyDisableHostnameVerification()
        let b = try backend.make()
        _ = try b.makeClientContext(config, hooks: hooks)
        _ = try b.makeClientContext(config, hooks: hooks)
        #expect(captured.warnings.filter { $0.contains("INSECURE") }.count == 2)
        hooks.insecurelyLogKeys { _ in }
        _ = try b.makeServerContext(Fixtures.serverConfig(), hooks: hooks)
        #expect(captured.warnings.filter { $0.contains("session secrets") }.count == 1)
    }

    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        func add(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    @Test(arguments: TestBackends.allPairs, [TLSProtocolVersion.tls1_2, .tls1_3])
    func keyLogLinesAreNSSFormatAndAgreeOnBothSides(pair backends: BackendPair, version: TLSProtocolVersion) throws {
        let clientLines = Lines()
        let serverLines = Lines()
        var clientHooks = TLSContextHooks()
        clientHooks.insecurelyLogKeys { clientLines.add($0) }
        var serverHooks = TLSContextHooks()
        serverHooks.insecurelyLogKeys { serverLines.add($0) }
        var config = Fixtures.clientConfig()
        config.maximumVersion = version
        let pair = try ConnectionPair(
            client: backends.client.make().makeClientContext(config, hooks: clientHooks),
            server: backends.server.make().makeServerContext(Fixtures.serverConfig(), hooks: serverHooks))
        #expect(pair.handshake())
        let labels =
            version == .tls1_3
            ? ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"]
            : ["CLIENT_RANDOM"]
        for line in clientLines.all {
            let fields = line.split(separator: " ")
            #expect(fields.count == 3, "\(line)")
            #expect(fields.count == 3 && fields[1].count == 64 && fields[1].allSatisfy(\.isHexDigit), "\(line)")
        }
        for label in labels {
            let client = clientLines.all.filter { $0.hasPrefix(label + " ") }
            let server = serverLines.all.filter { $0.hasPrefix(label + " ") }
            #expect(client.count == 1, "\(label): \(clientLines.all)")
            #expect(client == server, "\(label) differs between the sides")
        }
    }
}
