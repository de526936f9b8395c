import Foundation
import TLSKit
import TLSKitTestSupport
import TLSKitX509
import Testing

/// x509-limbo (Tests/Fixtures/x509-limbo/limbo.json) over real TLS handshakes, on every
/// backend, with the backend's own verification ("plain") and with the Web PKI profile
/// (``TLSContextHooks/webPKI(verificationTime:logger:)``): a server presents each case's
/// certificate (and intermediates) with its key; a TLSKit client trusts only the case's roots,
/// expects the case's peer name, verifies at its validation time, with its CRLs and its
/// maximum chain depth. A completed handshake is "SUCCESS".
///
/// Tests/Fixtures/x509-limbo-<backend>[-webpki].json records the outcomes. The test fails on a
/// false accept (expected FAILURE, got SUCCESS) that the file does not already list, and on
/// any other change of outcome (re-record with `TLSKIT_UPDATE_LIMBO=1` after reviewing it).
@Suite("x509-limbo over TLS")
struct LimboTests {
    struct Case: Decodable, Sendable {
        let id: String
        let conflicts_with: [String]
        let validation_kind: String
        let trusted_certs: [String]
        let untrusted_intermediates: [String]
        let peer_certificate: String
        let peer_certificate_key: String?
        let validation_time: String?
        let expected_result: String
        let expected_peer_name: PeerName?
        let max_chain_depth: Int?
        let crls: [String]?
        struct PeerName: Decodable, Sendable {
            let kind: String
            let value: String
        }
    }

    enum Outcome: String, Codable, Sendable {
        case success = "SUCCESS"
        case failure = "FAILURE"
        case skipped = "SKIPPED"
    }

    /// One run over all cases: the outcome of each, and why (the error text, or why skipped).
    struct Results: Sendable {
        var outcomes: [String: Outcome] = [:]
        var details: [String: String] = [:]
    }

    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The vendored vectors, Tests/Fixtures/x509-limbo/limbo.json (see PROVENANCE.md there).
    static func cases() throws -> [Case] {
        let url = repository.appendingPathComponent("Tests/Fixtures/x509-limbo/limbo.json")
        struct File: Decodable { let testcases: [Case] }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).testcases
    }

    static func fixtureName(_ backend: String, webPKI: Bool) -> String {
        "x509-limbo-\(backend)\(webPKI ? "-webpki" : "")"
    }

    static func fixtureURL(_ name: String) -> URL {
        repository.appendingPathComponent("Tests/Fixtures/\(name).json")
    }

    /// x509-limbo marks pairs of cases whose expectations contradict each other
    /// (`conflicts_with`): an RFC 5280 case and a Web PKI case. Each mode judges only the
    /// case of its own profile: plain verification (an RFC 5280 check) skips the Web PKI
    /// case, the Web PKI profile skips the RFC 5280 case.
    static func superseding(_ c: Case, webPKI: Bool) -> String? {
        let (mine, theirs) = webPKI ? ("rfc5280::", "webpki::") : ("webpki::", "rfc5280::")
        guard c.id.hasPrefix(mine) else { return nil }
        return c.conflicts_with.first { $0.hasPrefix(theirs) }
    }

    /// Runs one case; `.skipped` when it cannot be driven over TLS (client-side cases, no key,
    /// no peer name, a validation time the backend cannot set, a certificate the server side
    /// refuses to use) or does not apply to the mode (see ``superseding(_:webPKI:)``).
    static func run(_ c: Case, backend: any TLSBackend, webPKI: Bool) -> (Outcome, String) {
        guard c.validation_kind == "SERVER", let key = c.peer_certificate_key, let name = c.expected_peer_name else {
            return (.skipped, "not drivable over TLS (client-side case, or no key or peer name)")
        }
        if let other = superseding(c, webPKI: webPKI) {
            return (.skipped, "contradicts \(other), which decides in this mode")
        }
        var client = TLSClientConfiguration(trustStore: .pem(c.trusted_certs.joined(separator: "\n")))
        var when: Date?
        if let time = c.validation_time {
            guard backend.capabilities.supports(.verificationTime) else {
                return (.skipped, "not drivable: the backend cannot verify at the case's validation time")
            }
            guard let date = ISO8601DateFormatter().date(from: time) else { return (.skipped, "bad time") }
            when = date
            client.verificationTime = TLSVerificationTime(secondsSince1970: Int64(date.timeIntervalSince1970))
        }
        client.revocationLists = (c.crls ?? []).map { TLSRevocationList.pem($0) }
        // limbo's depth counts the intermediates; TLSKit's length also counts leaf and anchor.
        if let depth = c.max_chain_depth { client.maximumChainLength = depth + 2 }
        let hooks = webPKI ? TLSContextHooks.webPKI(verificationTime: when) : TLSContextHooks()
        let chain = TLSSigningChain(
            certificate: .pem(c.peer_certificate), privateKey: .pem(key),
            intermediates: c.untrusted_intermediates.map { TLSCertificate.pem($0) })
        do {
            let pair = try ConnectionPair(
                client: backend.makeClientContext(client, hooks: hooks),
                server: backend.makeServerContext(TLSServerConfiguration(certificateChain: chain)),
                serverName: name.value)
            if pair.handshake() { return (.success, "") }
            if let error = pair.clientError, error.code == .certificateVerification { return (.failure, error.message) }
            return (.skipped, "handshake failed otherwise: \(String(describing: pair.clientError ?? pair.serverError))")
        } catch {
            return (.skipped, "\(error)")
        }
    }

    /// Runs every case on a thread of its own: the Web PKI hook blocks its thread while
    /// swift-certificates' async verifier runs, which must not happen on the cooperative pool.
    static func runAll(_ backend: BackendUnderTest, webPKI: Bool) async throws -> Results {
        let cases = try Self.cases()
        let tls = try backend.make()
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                var results = Results()
                for c in cases {
                    let (outcome, detail) = run(c, backend: tls, webPKI: webPKI)
                    results.outcomes[c.id] = outcome
                    results.details[c.id] = detail
                }
                continuation.resume(returning: results)
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    static func arguments() -> [(BackendUnderTest, Bool)] {
        TestBackends.all.flatMap { backend in [(backend, false), (backend, true)] }
    }

    @Test(arguments: arguments())
    func noNewFalseAcceptsAndNoDrift(backend: BackendUnderTest, webPKI: Bool) async throws {
        let cases = try Self.cases()
        let results = try await Self.runAll(backend, webPKI: webPKI)
        var passed = 0
        var falseAccepts: [String] = []
        var falseRejects: [String] = []
        var skipped = 0
        for c in cases {
            switch (results.outcomes[c.id], c.expected_result) {
            case (.skipped?, _), (nil, _): skipped += 1
            case (.success?, "SUCCESS"), (.failure?, "FAILURE"): passed += 1
            case (.success?, _): falseAccepts.append(c.id)
            default: falseRejects.append(c.id)
            }
        }
        let name = Self.fixtureName(backend.name, webPKI: webPKI)
        var report =
            "x509-limbo over TLS, \(name): \(passed) passed, \(falseAccepts.count) false accepts, "
            + "\(falseRejects.count) false rejects, \(skipped) skipped (of \(cases.count))"
        for id in falseAccepts { report += "\n  false accept: \(id)" }
        for id in falseRejects { report += "\n  false reject: \(id): \(results.details[id] ?? "")" }
        print(report)
        #expect(passed + falseAccepts.count + falseRejects.count + skipped == cases.count)

        let url = Self.fixtureURL(name)
        if ProcessInfo.processInfo.environment["TLSKIT_UPDATE_LIMBO"] != nil {
            try JSONEncoder.sorted.encode(results.outcomes).write(to: url)
            return
        }
        let recorded = try JSONDecoder().decode([String: Outcome].self, from: Data(contentsOf: url))
        let knownFalseAccepts = Set(cases.filter { $0.expected_result == "FAILURE" && recorded[$0.id] == .success }.map(\.id))
        let newFalseAccepts = falseAccepts.filter { !knownFalseAccepts.contains($0) }
        #expect(newFalseAccepts.isEmpty, "new false accepts on \(name): \(newFalseAccepts)")
        let changed = cases.map(\.id).filter { recorded[$0] != results.outcomes[$0] }
        let drift = changed.map { id in
            "\(id): \(recorded[id]?.rawValue ?? "none") → \(results.outcomes[id]?.rawValue ?? "none") \(results.details[id] ?? "")"
        }
        #expect(
            changed.isEmpty,
            "outcomes differ from Tests/Fixtures/\(name).json (review, then re-record with TLSKIT_UPDATE_LIMBO=1): \(drift.joined(separator: "; "))")
    }

    /// Cases where the backends' recorded verdicts under the Web PKI profile may differ, and
    /// why. Everything else that both can drive must get the same verdict.
    /// The profile sees only what the backend accepted, so backend differences show through.
    static let knownWebPKIDisagreements: [String: String] = [
        // The backends' own verification differs (the profile never runs on a chain the
        // backend rejected). Both report the same verifiedChain for every case both accept.
        "rfc5280::root-and-intermediate-swapped": "OpenSSL does not build the path when the presented chain is out of order",
        "pathlen::self-issued-certs-pathlen": "GnuTLS counts self-issued intermediates against pathLenConstraint",
        "rfc5280::nc::nc-forbids-othername-noop": "GnuTLS rejects an otherName constraint no name on the path is subject to",
    ]

    @Test func backendsAgreeUnderTheWebPKIProfile() throws {
        let names = TestBackends.all.map(\.name)
        guard names.count > 1 else { return }
        let recorded = try names.map { name in
            try JSONDecoder().decode([String: Outcome].self, from: Data(contentsOf: Self.fixtureURL(Self.fixtureName(name, webPKI: true))))
        }
        for c in try Self.cases() {
            let verdicts = recorded.map { $0[c.id] ?? .skipped }
            guard !verdicts.contains(.skipped), Set(verdicts).count > 1 else { continue }
            let text = zip(names, verdicts).map { "\($0): \($1.rawValue)" }.joined(separator: ", ")
            #expect(Self.knownWebPKIDisagreements[c.id] != nil, "the backends disagree on \(c.id) under the Web PKI profile: \(text)")
        }
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return encoder
    }
}
