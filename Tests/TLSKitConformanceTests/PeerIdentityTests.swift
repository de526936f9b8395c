import TLSKit
import TLSKitTestSupport
import TLSKitX509
import Testing
import X509

/// Who the peer is, without hand parsing: identity patterns and the allowPeers policy.
@Suite("Peer identity patterns")
struct PeerIdentityTests {
    static let workload = try! Fixtures.root.issue(
        commonName: "billing", dnsNames: ["a.fleet.example"], ipAddresses: ["10.1.2.3"], usage: .client,
        otherNames: [.uniformResourceIdentifier("spiffe://prod.example/ns/billing/sa/api"), .rfc822Name("Ops@Example.COM")])

    @Test func patternsMatchWhatTheyName() throws {
        let cert = Self.workload.certificate
        let matching = [
            "dns:a.fleet.example", "dns:*.fleet.example", "DNS:A.Fleet.Example", "ip:10.1.2.3",
            "uri:spiffe://prod.example/ns/billing/sa/api", "email:Ops@example.com", "spiffe://prod.example/ns/billing/sa/api",
            "spiffe://prod.example/*", "cn:billing", "o:TLSKit tests",
        ]
        for text in matching {
            #expect(try TLSPeerIdentityPattern(text).matches(cert), "\(text)")
        }
        let other = [
            "dns:fleet.example", "dns:*.example", "dns:b.fleet.example", "ip:10.1.2.4", "email:ops@example.com.evil",
            "email:OPS@example.com",  // the local part is case-sensitive
            "spiffe://prod.example/ns/billing", "spiffe://staging.example/*", "cn:Billing", "ou:billing",
        ]
        for text in other {
            #expect(try !TLSPeerIdentityPattern(text).matches(cert), "\(text)")
        }
    }

    @Test func aWildcardCoversExactlyOneLabel() throws {
        let pattern = try TLSPeerIdentityPattern("dns:*.fleet.example")
        #expect(pattern.matchesDNSName("a.fleet.example"))
        #expect(!pattern.matchesDNSName("a.b.fleet.example"))
        #expect(!pattern.matchesDNSName("fleet.example"))
        #expect(!pattern.matchesDNSName("xfleet.example"))
        #expect(pattern.matchesDNSName("*.fleet.example"), "the same wildcard in the certificate")
        #expect(!pattern.matchesDNSName("*.example"))
    }

    @Test func aSPIFFEIDNeedsExactlyOneURI() throws {
        let pattern = try TLSPeerIdentityPattern("spiffe://prod.example/*")
        #expect(pattern.matchesSPIFFE(uriNames: ["spiffe://prod.example/a"]))
        #expect(!pattern.matchesSPIFFE(uriNames: ["spiffe://prod.example/a", "https://x.example"]), "an SVID has one URI SAN")
        #expect(!pattern.matchesSPIFFE(uriNames: ["spiffe://prod.example.evil/a"]))
        #expect(!pattern.matchesSPIFFE(uriNames: ["spiffe://prod.example/"]))
    }

    @Test func nonsenseIsRefusedWithTheForms() {
        for text in [
            "", "fleet.example", "dns:*", "dns:a.*.example", "dns:*a.example", "ip:300.1.1.1", "spiffe://", "spiffe://Prod.example/x", "spiffe://x",
            "nickname:bob", "email:nobody",
        ] {
            #expect(throws: TLSError(.configuration), "\(text)") { _ = try TLSPeerIdentityPattern(text) }
        }
    }

    @Test(arguments: TestBackends.all)
    func aServerAdmitsOnlyTheAllowedWorkloads(backend: BackendUnderTest) throws {
        let b = try backend.make()
        var server = Fixtures.serverConfig()
        server.trustStore = Fixtures.root.trustStore
        var hooks = TLSContextHooks()
        hooks.addVerificationPolicy(.allowPeers([try TLSPeerIdentityPattern("spiffe://prod.example/ns/billing/*")]))
        let serverContext = try b.makeServerContext(server, hooks: hooks)

        var allowed = Fixtures.clientConfig()
        allowed.certificateChain = Self.workload.signingChain
        let ok = try ConnectionPair(client: b.makeClientContext(allowed), server: serverContext)
        #expect(ok.handshake(), "\(String(describing: ok.serverError))")

        var other = Fixtures.clientConfig()
        other.certificateChain = Fixtures.client.signingChain  // same CA, no SPIFFE ID
        let refused = try ConnectionPair(client: b.makeClientContext(other), server: serverContext)
        #expect(!refused.handshake())
        let error = try #require(refused.serverError)
        #expect(error.verificationFailure?.reason == .rejectedByHook)
        #expect(error.message.contains("allowPeers") && error.message.contains("spiffe://prod.example/ns/billing/*"), "\(error)")
    }
}
