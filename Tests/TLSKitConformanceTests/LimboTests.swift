import Foundation
import Testing
import TLSKit
import TLSKitOpenSSL
import TLSKitTestSupport
import TLSKitX509

/// x509-limbo (Tests/Fixtures/x509-limbo/limbo.json) over real TLS handshakes: a server
/// presents each case's certificate (and intermediates) with its key; a TLSKit client trusts
/// only the case's roots, expects the case's peer name and verifies at its validation time.
/// A completed handshake is "SUCCESS". Tests/Fixtures/x509-limbo-<backend>.json records the
/// outcomes; a false accept (expected FAILURE, got SUCCESS) that the file does not already
/// list fails the test.
@Suite("x509-limbo over TLS")
struct LimboTests {
    struct Case: Decodable {
        let id: String
        let validation_kind: String
        let trusted_certs: [String]
        let untrusted_intermediates: [String]
        let peer_certificate: String
        let peer_certificate_key: String?
        let validation_time: String?
        let expected_result: String
        let expected_peer_name: PeerName?
        struct PeerName: Decodable { let kind: String; let value: String }
    }

    enum Outcome: String, Codable { case success = "SUCCESS", failure = "FAILURE", skipped = "SKIPPED" }

    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The vendored vectors, Tests/Fixtures/x509-limbo/limbo.json (see PROVENANCE.md there).
    static func cases() throws -> [Case] {
        let url = repository.appendingPathComponent("Tests/Fixtures/x509-limbo/limbo.json")
        struct File: Decodable { let testcases: [Case] }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).testcases
    }

    /// Runs one case; `.skipped` when it cannot be driven over TLS (client-side cases, no key,
    /// no peer name, a certificate the server side refuses to use).
    static func run(_ c: Case, backend: any TLSBackend, strict: Bool = false) -> (Outcome, String) {
        guard c.validation_kind == "SERVER", let key = c.peer_certificate_key, let name = c.expected_peer_name else {
            return (.skipped, "not drivable over TLS")
        }
        var client = TLSClientConfiguration(trustStore: .pem(c.trusted_certs.joined(separator: "\n")))
        var when: Date?
        if let time = c.validation_time {
            let formatter = ISO8601DateFormatter()
            guard let date = formatter.date(from: time) else { return (.skipped, "bad time") }
            when = date
            client.verificationTime = TLSVerificationTime(secondsSince1970: Int64(date.timeIntervalSince1970))
        }
        let hooks = strict ? TLSContextHooks.webPKI(verificationTime: when) : TLSContextHooks()
        let chain = TLSSigningChain(
            certificate: .pem(c.peer_certificate), privateKey: .pem(key),
            intermediates: c.untrusted_intermediates.map { TLSCertificate.pem($0) })
        do {
            let pair = try ConnectionPair(
                client: backend.makeClientContext(client, hooks: hooks),
                server: backend.makeServerContext(TLSServerConfiguration(certificateChain: chain)),
                serverName: name.value)
            if pair.handshake() { return (.success, "") }
            if pair.clientError?.code == .certificateVerification { return (.failure, pair.clientError!.message) }
            return (.skipped, "handshake failed otherwise: \(String(describing: pair.clientError ?? pair.serverError))")
        } catch {
            return (.skipped, "\(error)")
        }
    }

    @Test(arguments: [false, true])
    func openSSLHasNoNewFalseAccepts(strict: Bool) throws {
        let backend = try OpenSSLBackend()
        let cases = try Self.cases()
        var outcomes: [String: Outcome] = [:]
        var passed = 0, falseAccepts: [String] = [], falseRejects: [String] = [], skipped = 0
        for c in cases {
            let (outcome, _) = Self.run(c, backend: backend, strict: strict)
            outcomes[c.id] = outcome
            switch (outcome, c.expected_result) {
            case (.skipped, _): skipped += 1
            case (.success, "SUCCESS"), (.failure, "FAILURE"): passed += 1
            case (.success, _): falseAccepts.append(c.id)
            default: falseRejects.append(c.id)
            }
        }
        let name = strict ? "openssl-webpki" : "openssl"
        let summary = "x509-limbo over TLS, \(name): \(passed) passed, \(falseAccepts.count) false accepts, \(falseRejects.count) false rejects, \(skipped) skipped (of \(cases.count))"
        print(summary)
        let expectedURL = Self.repository.appendingPathComponent("Tests/Fixtures/x509-limbo-\(name).json")
        if ProcessInfo.processInfo.environment["TLSKIT_UPDATE_LIMBO"] != nil {
            let data = try JSONEncoder.sorted.encode(outcomes)
            try data.write(to: expectedURL)
            return
        }
        let recorded = try JSONDecoder().decode([String: Outcome].self, from: Data(contentsOf: expectedURL))
        let knownFalseAccepts = Set(cases.filter { $0.expected_result == "FAILURE" && recorded[$0.id] == .success }.map(\.id))
        let newFalseAccepts = falseAccepts.filter { !knownFalseAccepts.contains($0) }
        #expect(newFalseAccepts.isEmpty, "new false accepts: \(newFalseAccepts)")
        // Drift in the other direction is worth knowing (re-record with TLSKIT_UPDATE_LIMBO=1).
        let changed = outcomes.filter { recorded[$0.key] != $0.value }.map(\.key).sorted()
        #expect(changed.isEmpty, "outcomes differ from Tests/Fixtures/x509-limbo-\(name).json: \(changed)")
        #expect(passed + falseAccepts.count + falseRejects.count + skipped == cases.count)
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return encoder
    }
}
