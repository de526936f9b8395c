import TLSKit
import TLSKitGnuTLS
import TLSKitOpenSSL

#if canImport(Glibc)
import Glibc
#endif

/// Stops the process with a message libFuzzer records as a crash (the input is saved).
public func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("INVARIANT BROKEN: \(message())", file: file, line: line) }
}

/// Reads a fuzz input front to back; past the end every read yields zeros (or nothing).
public struct FuzzInput {
    let bytes: [UInt8]
    var position = 0

    public init(_ data: UnsafePointer<UInt8>?, _ size: Int) {
        bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    }
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isEmpty: Bool { position >= bytes.count }
    public var remaining: Int { max(0, bytes.count - position) }

    public mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func u16() -> Int { Int(byte()) << 8 | Int(byte()) }

    public mutating func take(_ count: Int) -> [UInt8] {
        let n = min(max(0, count), remaining)
        defer { position += n }
        return Array(bytes[position..<position + n])
    }

    public mutating func rest() -> [UInt8] { take(remaining) }
}

/// The two backends under test.
public enum Backend: String, CaseIterable, Sendable {
    case openssl, gnutls

    /// One backend value per process (building one loads providers).
    public var backend: any TLSBackend {
        switch self {
        case .openssl: return Backends.openssl
        case .gnutls: return Backends.gnutls
        }
    }
}

enum Backends {
    static let openssl: any TLSBackend = try! OpenSSLBackend()
    static let gnutls: any TLSBackend = try! GnuTLSBackend()
}

/// One TLS record as it appears on the wire.
public struct WireRecord: Equatable {
    public var type: UInt8
    public var offset: Int
    public var length: Int  // of the fragment, without the 5-byte header
    public var end: Int { offset + 5 + length }
}

public enum Wire {
    /// The largest fragment a TLS 1.2 record may carry (2^14 + 2048, RFC 5246 §6.2.3).
    public static let maximumFragment = 16_384 + 2_048

    /// Splits `bytes` into records; `complete` is false when a record is cut short.
    public static func records(_ bytes: [UInt8]) -> (records: [WireRecord], complete: Bool) {
        var out: [WireRecord] = []
        var i = 0
        while i + 5 <= bytes.count {
            let length = Int(bytes[i + 3]) << 8 | Int(bytes[i + 4])
            guard i + 5 + length <= bytes.count else { return (out, false) }
            out.append(WireRecord(type: bytes[i], offset: i, length: length))
            i += 5 + length
        }
        return (out, i == bytes.count)
    }

    /// Checks that what an engine sent is a whole number of well-formed records.
    public static func checkWellFormed(_ bytes: [UInt8], _ label: String) {
        let (records, complete) = records(bytes)
        invariant(complete, "\(label): its output does not end on a record boundary (\(bytes.count) bytes)")
        for r in records {
            invariant((20...23).contains(r.type), "\(label): output record of content type \(r.type) at offset \(r.offset)")
            // OpenSSL answers a record or ClientHello of a version it refuses with an alert in
            // the peer's own record version ("send back error using their minor version
            // number", ssl3_get_record; even 2.6): libssl's choice, so alerts are exempt.
            invariant(
                r.type == 21 || (bytes[r.offset + 1] == 3 && bytes[r.offset + 2] <= 4),
                "\(label): output record with version \(bytes[r.offset + 1]).\(bytes[r.offset + 2]) at offset \(r.offset)")
            invariant(r.length <= maximumFragment, "\(label): output record of \(r.length) bytes at offset \(r.offset)")
        }
    }
}

extension Array where Element == UInt8 {
    func hasPrefix(_ prefix: [UInt8]) -> Bool { prefix.count <= count && self[0..<prefix.count].elementsEqual(prefix) }
}

/// The fixed credentials (PKI.swift, made by PKI/make-pki.sh).
public enum Credentials {
    public static let leafKey = TLSPrivateKey.pem(PKI.leafKey)
    /// leafA (localhost) under intA under rootA.
    public static let chainA = TLSSigningChain(certificate: .pem(PKI.leafA), privateKey: leafKey, intermediates: [.pem(PKI.intA)])
    /// leafOther (other.example) under intA.
    public static let chainOther = TLSSigningChain(
        certificate: .pem(PKI.leafOther), privateKey: leafKey, intermediates: [.pem(PKI.intA)])
    public static let rootA = TLSTrustStore.pem(PKI.rootA)
    public static let rootsAB = TLSTrustStore.pem(PKI.rootA + "\n" + PKI.rootB)
}

/// The configurations the engine targets choose from (first input byte).
public enum Configurations {
    public static let serverVariants = 5
    public static let clientVariants = 4

    /// 0 plain; 1 client certificates required, X25519 or P-256 only; 2 ALPN and two chains chosen by SNI;
    /// 3 TLS 1.2 only; 4 sixteen TLS 1.3 tickets after each handshake (a ticket flood).
    public static func server(_ variant: Int) -> TLSServerConfiguration {
        switch variant {
        case 1:
            var c = TLSServerConfiguration(certificateChain: Credentials.chainA)
            c.trustStore = Credentials.rootA
            c.clientAuthentication = .required
            c.keyExchangeGroups = [.x25519, .secp256r1]  // a client that offers only P-384 gets a HelloRetryRequest
            return c
        case 2:
            var c = TLSServerConfiguration(certificateChains: [Credentials.chainA, Credentials.chainOther])
            c.applicationProtocols = [.http2, .http1_1]
            c.trustStore = Credentials.rootsAB
            c.clientAuthentication = .optional
            return c
        case 3:
            var c = TLSServerConfiguration(certificateChain: Credentials.chainA)
            c.maximumVersion = .tls1_2
            return c
        case 4:
            var c = TLSServerConfiguration(certificateChain: Credentials.chainA)
            c.sessionTicketCount = 16
            return c
        default:
            return TLSServerConfiguration(certificateChain: Credentials.chainA)
        }
    }

    /// 0 plain (roots A and B); 1 with a client certificate and ALPN; 2 TLS 1.2 only;
    /// 3 TLS 1.3 only, P-384 first.
    public static func client(_ variant: Int) -> TLSClientConfiguration {
        var c = TLSClientConfiguration(trustStore: Credentials.rootsAB, serverName: try! TLSServerName("localhost"))
        // No tickets kept between runs: each input then replays the same way.
        c.resumesSessions = false
        switch variant {
        case 1:
            c.certificateChain = Credentials.chainA
            c.applicationProtocols = [.http2, .http1_1]
        case 2:
            c.maximumVersion = .tls1_2
        case 3:
            c.minimumVersion = .tls1_3
            c.keyExchangeGroups = [.secp384r1, .x25519]
        default:
            break
        }
        return c
    }
}

/// Contexts are built once per process and reused by every run.
public enum Contexts {
    nonisolated(unsafe) static var servers: [String: any TLSServerContext] = [:]
    nonisolated(unsafe) static var clients: [String: any TLSClientContext] = [:]

    public static func server(_ backend: Backend, _ variant: Int) -> any TLSServerContext {
        let key = "\(backend)/\(variant)"
        if let c = servers[key] { return c }
        do {
            let c = try backend.backend.makeServerContext(Configurations.server(variant))
            servers[key] = c
            return c
        } catch { fatalError("cannot build the \(backend) server context \(variant): \(error)") }
    }

    public static func client(_ backend: Backend, _ variant: Int) -> any TLSClientContext {
        let key = "\(backend)/\(variant)"
        if let c = clients[key] { return c }
        do {
            let c = try backend.backend.makeClientContext(Configurations.client(variant))
            clients[key] = c
            return c
        } catch { fatalError("cannot build the \(backend) client context \(variant): \(error)") }
    }
}
