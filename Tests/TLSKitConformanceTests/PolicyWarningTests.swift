import Foundation
import Logging
import TLSKit
import TLSKitTestSupport
import Testing

/// The least secure policy is never silent.
@Suite("Security policy warnings")
struct PolicyWarningTests {
    final class Captured: @unchecked Sendable {
        // @unchecked: guarded by `lock`.
        private let lock = NSLock()
        private var lines: [(Logger.Level, String)] = []
        func append(_ level: Logger.Level, _ message: String) { lock.withLock { lines.append((level, message)) } }
        var warnings: [String] { lock.withLock { lines.filter { $0.0 == .warning }.map(\.1) } }
    }

    struct CapturingHandler: LogHandler {
        let captured: Captured
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { captured.append(event.level, "\(event.message)") }
    }

    @Test(arguments: TestBackends.all)
    func compatiblePolicyWarnsEveryTimeAContextIsBuilt(backend: BackendUnderTest) throws {
        let captured = Captured()
        let hooks = TLSContextHooks(logger: Logger(label: "test") { _ in CapturingHandler(captured: captured) })
        let b = try backend.make()
        var client = Fixtures.clientConfig()
        client.securityPolicy = .compatible
        _ = try b.makeClientContext(client, hooks: hooks)
        _ = try b.makeClientContext(client, hooks: hooks)
        #expect(captured.warnings.count == 2)
        #expect(captured.warnings.first?.contains("compatible") == true)

        // The default policy builds silently.
        _ = try b.makeClientContext(Fixtures.clientConfig(), hooks: hooks)
        #expect(captured.warnings.count == 2)

        // And a compatible server still talks to a default client.
        var server = Fixtures.serverConfig()
        server.securityPolicy = .compatible
        let pair = try ConnectionPair(
            client: b.makeClientContext(Fixtures.clientConfig()), server: b.makeServerContext(server, hooks: hooks))
        #expect(pair.handshake())
        #expect(captured.warnings.count == 3)
    }
}
