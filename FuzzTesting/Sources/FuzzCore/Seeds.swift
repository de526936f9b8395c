import TLSKit

#if canImport(Glibc)
import Glibc
#endif

/// Writes the seed corpora: run any fuzz binary with `TLSKIT_FUZZ_RECORD_SEEDS=DIR` and it
/// writes its target's seeds into DIR and exits (Corpora/README.md).
public enum Seeds {
    public static func recordIfAsked(_ target: String) {
        guard let dir = getenv("TLSKIT_FUZZ_RECORD_SEEDS").map({ String(cString: $0) }) else { return }
        mkdir(dir, 0o755)
        var n = 0
        for (name, bytes) in seeds(target) {
            n += 1
            let path = dir + "/" + name
            guard let f = fopen(path, "wb") else { fatalError("cannot write \(path)") }
            _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
            fclose(f)
        }
        print("wrote \(n) seeds for \(target) into \(dir)")
        exit(0)
    }

    /// The flights of one in-memory handshake, with the records after it (tickets).
    struct Transcript {
        var fromClient: [[UInt8]] = []
        var fromServer: [[UInt8]] = []
    }

    static func transcript(client: Backend, _ cv: Int, server: Backend, _ sv: Int) -> Transcript {
        var t = Transcript()
        let c = try! Contexts.client(client, cv).makeConnection()
        let s = try! Contexts.server(server, sv).makeConnection()
        var failed = false
        for _ in 0..<16 where !failed && !(c.isHandshakeComplete && s.isHandshakeComplete) {
            do { _ = try c.handshake() } catch { failed = true }
            let a = c.drainOutput()
            if !a.isEmpty {
                t.fromClient.append(a)
                try? s.receive(a)
            }
            do { _ = try s.handshake() } catch { failed = true }
            let b = s.drainOutput()
            if !b.isEmpty {
                t.fromServer.append(b)
                try? c.receive(b)
            }
        }
        if c.isHandshakeComplete {
            _ = try? c.write(Array("GET / HTTP/1.1\r\n\r\n".utf8))
            _ = try? c.shutdown()
            let a = c.drainOutput()
            if !a.isEmpty { t.fromClient.append(a) }
        }
        return t
    }

    static func seeds(_ target: String) -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        switch target {
        case "openssl-server", "gnutls-server":
            let me: Backend = target.hasPrefix("openssl") ? .openssl : .gnutls
            for peer in Backend.allCases {
                for sv in 0..<Configurations.serverVariants {
                    let cv = sv == 1 || sv == 2 ? 1 : (sv == 3 ? 2 : 0)
                    let t = transcript(client: peer, cv, server: me, sv)
                    out.append(
                        (
                            "\(peer)-client\(cv)-server\(sv)-hello",
                            EngineTarget.seed(variant: UInt8(sv), client: false, flights: Array(t.fromClient.prefix(1)))
                        ))
                    out.append(
                        (
                            "\(peer)-client\(cv)-server\(sv)-all",
                            EngineTarget.seed(
                                variant: UInt8(sv), client: false, flights: t.fromClient, endWith: [.read, .write, .shutdown, .endOfInput, .read])
                        ))
                }
                // A HelloRetryRequest: this client offers only a P-384 key share to server 1.
                let t = transcript(client: peer, 3, server: me, 1)
                out.append(("\(peer)-client3-server1-hrr", EngineTarget.seed(variant: 1, client: false, flights: t.fromClient)))
            }
        case "openssl-client", "gnutls-client":
            let me: Backend = target.hasPrefix("openssl") ? .openssl : .gnutls
            for peer in Backend.allCases {
                for cv in 0..<Configurations.clientVariants {
                    for sv in [0, 1, 2, 3] where !(cv == 3 && sv == 3) {
                        let t = transcript(client: me, cv, server: peer, sv)
                        out.append(
                            (
                                "\(peer)-server\(sv)-client\(cv)",
                                EngineTarget.seed(
                                    variant: UInt8(cv), client: true, flights: t.fromServer, endWith: [.read, .shutdown, .endOfInput, .read])
                            ))
                    }
                }
            }
        case "openssl-session", "gnutls-session":
            typealias O = SessionTarget.Op
            func op(_ o: O, _ d: UInt8 = 0) -> UInt8 { o.rawValue | d << 4 }
            let scripts: [(String, [UInt8])] = [
                ("echo", [op(.write), 10, op(.deliver), op(.write, 1), 5, op(.deliver, 1)]),
                ("keyupdate-flood", [op(.keyUpdates), 0xBF, op(.deliver), op(.write, 1), 1, op(.deliver, 1), op(.write), 2, op(.deliver)]),
                ("keyupdate-flood-server", [op(.keyUpdates, 1), 0x3F, op(.write, 1), 3, op(.deliver, 1), op(.write), 1, op(.deliver)]),
                (
                    "data-after-close",
                    [op(.write), 3, op(.shutdown), op(.write), 3, op(.append), 20] + Array(repeating: 0x17, count: 20) + [op(.deliver)]
                ),
                ("close-both", [op(.shutdown), op(.deliver), op(.shutdown, 1), op(.deliver, 1)]),
                ("alert-inside-record", [op(.write), 50, op(.inject), 1, 2, 2, 2, 40, 0, 10, op(.deliver)]),
                ("handshake-inside-record", [op(.write, 1), 50, op(.inject, 1), 2, 4, 4, 0, 0, 0, 0, 0, 7, op(.deliver, 1)]),
                ("split", [op(.write), 200, op(.deliverSplit), 0, 7, 1, op(.deliverSplit), 0, 100, 33, op(.deliver)]),
                ("duplicate", [op(.write), 2, op(.write), 2, op(.duplicate), op(.deliver)]),
                ("drop", [op(.write), 2, op(.write), 2, op(.drop), op(.deliver)]),
                ("swap", [op(.write), 2, op(.write), 2, op(.swap), op(.deliver)]),
                ("corrupt", [op(.write), 2, op(.corrupt), 0, 9, 0x40, op(.deliver)]),
                ("eof-midway", [op(.write), 100, op(.deliverSplit), 0, 50, 0, op(.endOfInput), op(.read), 3]),
            ]
            for v in 0..<SessionTarget.sessionVariants.count {
                for (name, script) in scripts { out.append(("v\(v)-\(name)", [UInt8(v)] + script)) }
            }
        case "chain-differential":
            let chains: [(String, [UInt8])] = [
                ("A", [0, 0, 3]), ("A-only-A", [1, 0, 3]), ("A-wrong-root", [2, 0, 3]), ("B", [0, 1, 5]),
                ("A2", [0, 6, 7, 3]), ("A2-limit", [3, 6, 7, 3]), ("A2-shuffled", [0, 6, 3, 7]), ("cross", [2, 0, 4]),
                ("cross-and-A", [0, 0, 4, 3]), ("X", [0, 2, 6, 2]), ("expired", [0, 3, 3]), ("other-name", [0, 4, 3]),
                ("direct", [0, 5]), ("self-signed", [0, 7]), ("duplicates", [0, 0, 3, 3, 0, 8, 1]), ("noise", [0, 0, 2, 6, 5, 9, 3]),
            ]
            out = chains
        case "parsers":
            func item(_ mode: UInt8, _ name: String, _ bytes: [UInt8]) { out.append((name, [mode] + bytes)) }
            for name in ["localhost", "Example.COM.", "127.0.0.1", "[::1]", "xn--bcher-kva.example", "a_b.test", "fe80::1"] {
                item(0, "name-\(name)", Array(name.utf8))
            }
            item(1, "trust-pem", Array((PKI.rootA + PKI.rootB).utf8))
            item(3, "key-pem", Array(PKI.leafKey.utf8))
            item(5, "cert-pem", Array((PKI.leafA + PKI.intA).utf8))
            item(6, "crl-pem", [0] + Array(PKI.crlIntA.utf8))
            item(7, "pkcs11", [12] + Array("token=SoftHSM;".utf8) + Array(repeating: 0, count: 10) + [1, 2, 3, 4, 0, 10] + Array("object=key".utf8))
            item(7, "pkcs11-encoded", [4] + Array("id=1".utf8) + [0x0B, 0x0C, 0x02, 0x0A, 0x05, 0x02, 0, 0x04, 0x0D, 0x0A, 9, 9, 9, 9, 1, 0])
            item(8, "file-key", Array("///tmp/tlskit-fuzz-files/key.pem".utf8))
            item(8, "file-localhost", Array("//localhost/tmp/tlskit-fuzz-files/key.pem".utf8))
            item(8, "file-encoded", Array("/tmp/tlskit-fuzz-files/a%20b%25.pem".utf8))
        default:
            fatalError("no seeds for \(target)")
        }
        return out
    }
}
