import TLSKit

#if canImport(Glibc)
import Glibc
#endif

/// Target (d): an OpenSSL server presents a chain the input picks from the committed test
/// PKI (leaf first, then any certificates in any order, duplicates and strangers included);
/// an OpenSSL client and a GnuTLS client with the same configuration verify it.
///
/// Input: byte 0 picks the client configuration (trusting roots A and B; A only; B only; A
/// and B with `maximumChainLength = 3`), byte 1 the leaf, up to 8 further bytes the rest.
///
/// Invariants: both clients accept or both reject; when both accept, they report the same
/// `verifiedChain` (Design.md: "the same on both backends whatever extra certificates the
/// peer sent") ending at a trusted root and starting at the leaf, and both report the
/// presented certificates exactly as sent.
public enum ChainDifferential {
    public static let pool: [(name: String, pem: String)] = [
        ("rootA", PKI.rootA), ("rootB", PKI.rootB), ("rootX", PKI.rootX), ("intA", PKI.intA), ("intAB", PKI.intAB),
        ("intB", PKI.intB), ("intX", PKI.intX), ("intA2", PKI.intA2), ("leafA", PKI.leafA), ("leafB", PKI.leafB),
        ("leafX", PKI.leafX), ("leafExpired", PKI.leafExpired), ("leafOther", PKI.leafOther), ("leafDirect", PKI.leafDirect),
        ("leafA2", PKI.leafA2), ("selfSigned", PKI.selfSigned),
    ]
    /// Pool indices of certificates whose key is `PKI.leafKey`.
    static let leaves = Array(8..<16)

    static let trustVariants: [(roots: String, maximumLength: Int?)] = [
        (PKI.rootA + "\n" + PKI.rootB, nil), (PKI.rootA, nil), (PKI.rootB, nil), (PKI.rootA + "\n" + PKI.rootB, 3),
    ]

    nonisolated(unsafe) static var servers: [[Int]: any TLSServerContext] = [:]
    nonisolated(unsafe) static var clients: [String: any TLSClientContext] = [:]
    nonisolated(unsafe) static var der: [Int: [UInt8]] = [:]
    /// TLSKIT_FUZZ_VERBOSE=1: print each outcome (to see what a seed or crash does).
    static let verbose = getenv("TLSKIT_FUZZ_VERBOSE") != nil

    static func client(_ backend: Backend, _ trust: Int) -> any TLSClientContext {
        let key = "\(backend)/\(trust)"
        if let c = clients[key] { return c }
        var config = TLSClientConfiguration(trustStore: .pem(trustVariants[trust].roots), serverName: try! TLSServerName("localhost"))
        config.resumesSessions = false
        config.maximumChainLength = trustVariants[trust].maximumLength
        let c = try! backend.backend.makeClientContext(config)
        clients[key] = c
        return c
    }

    static func server(_ chain: [Int]) -> (any TLSServerContext)? {
        if let s = servers[chain] { return s }
        if servers.count > 512 { servers.removeAll() }
        let signing = TLSSigningChain(
            certificate: .pem(pool[chain[0]].pem), privateKey: Credentials.leafKey,
            intermediates: chain.dropFirst().map { .pem(pool[$0].pem) })
        guard let s = try? Backend.openssl.backend.makeServerContext(TLSServerConfiguration(certificateChain: signing)) else {
            return nil
        }
        servers[chain] = s
        return s
    }

    /// The DER of each pool certificate, learnt from a handshake that presents it (no parser
    /// of our own).
    static func names(_ chain: [[UInt8]]) -> String {
        chain.map { d in pool.indices.first { der[$0] == d }.map { pool[$0].name } ?? "?\(d.count)" }.joined(separator: ",")
    }

    struct Outcome {
        var accepted: Bool
        var error: TLSError?
        var info: TLSConnectionInfo?
    }

    static func handshake(_ backend: Backend, trust: Int, server: any TLSServerContext) -> Outcome {
        do {
            let c = try client(backend, trust).makeConnection()
            let s = try server.makeConnection()
            var clientError: TLSError?
            for _ in 0..<16 where !(c.isHandshakeComplete && s.isHandshakeComplete) && clientError == nil {
                do { _ = try c.handshake() } catch { clientError = error }
                try? s.receive(c.drainOutput())
                _ = try? s.handshake()
                if clientError == nil { try? c.receive(s.drainOutput()) }
            }
            return Outcome(accepted: c.isHandshakeComplete && clientError == nil, error: clientError, info: c.connectionInfo)
        } catch { fatalError("makeConnection: \(error)") }
    }

    public static func run(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        var input = FuzzInput(data, size)
        let trust = Int(input.byte()) % trustVariants.count
        var chain = [leaves[Int(input.byte()) % leaves.count]]
        chain += input.take(8).map { Int($0) % pool.count }
        guard let server = server(chain) else { return 0 }
        let o = handshake(.openssl, trust: trust, server: server)
        let g = handshake(.gnutls, trust: trust, server: server)
        let what = "chain [\(chain.map { pool[$0].name }.joined(separator: ","))], trust variant \(trust)"
        if verbose {
            print("\(what): openssl \(o.accepted ? "accepts [\(names(o.info?.verifiedChain ?? []))]" : "rejects: \(o.error.map { "\($0)" } ?? "?")")")
            print("\(what): gnutls \(g.accepted ? "accepts [\(names(g.info?.verifiedChain ?? []))]" : "rejects: \(g.error.map { "\($0)" } ?? "?")")")
        }

        for (name, outcome) in [("openssl", o), ("gnutls", g)] {
            if let info = outcome.info {
                for (i, d) in info.peerCertificates.enumerated() where i < chain.count { der[chain[i]] = d }
                invariant(
                    info.peerCertificates.count == chain.count,
                    "\(name) reports \(info.peerCertificates.count) presented certificates for \(what)")
            }
            if let error = outcome.error {
                invariant(
                    error.code == .certificateVerification,
                    "\(name) failed with \(error) rather than a verification error for \(what)")
            }
        }
        if o.accepted != g.accepted, let exception = KnownDifferences.explain(chain: chain, trust: trust) {
            _ = exception  // documented; see KnownDifferences
            return 0
        }
        invariant(
            o.accepted == g.accepted,
            "backends disagree on \(what): openssl \(o.accepted ? "accepts" : "rejects (\(o.error!))"), gnutls \(g.accepted ? "accepts" : "rejects (\(g.error!))")"
        )
        if o.accepted, let oi = o.info, let gi = g.info {
            invariant(
                oi.verifiedChain == gi.verifiedChain,
                "backends verified different chains for \(what): openssl [\(names(oi.verifiedChain))], gnutls [\(names(gi.verifiedChain))]")
            invariant(oi.verifiedChain.first == oi.peerCertificates.first, "the verified chain does not start at the leaf for \(what)")
            invariant(oi.peerCertificates == gi.peerCertificates, "the backends report different presented chains for \(what)")
        }
        return 0
    }
}

/// Disagreements between the backends that are documented (BackendDifferences.md) rather
/// than bugs. Empty until one is found and written down there; each entry says where.
enum KnownDifferences {
    static func explain(chain: [Int], trust: Int) -> String? { nil }
}
