/// What a server knows of a client when it picks the certificate to present: the parts of
/// the ClientHello that decide it.
///
/// Given to ``TLSContextHooks/certificateResolver`` once per full handshake, before the
/// server has chosen anything.
public struct TLSClientHelloInfo: Hashable, Sendable {
    /// The DNS name the client asked for (SNI), lower-cased, without a trailing dot; `nil`
    /// when it sent none (clients connecting by IP address send none).
    public var serverName: String?
    /// The signature schemes the client accepts for the handshake signature, its order
    /// (the `signature_algorithms` extension); empty when it sent none (TLS 1.2 clients may
    /// omit it, which means SHA-1 with RSA or ECDSA).
    public var signatureSchemes: [TLSSignatureScheme]
    /// The application protocols the client offered (ALPN), its order; empty without ALPN.
    public var applicationProtocols: [TLSApplicationProtocol]

    /// A ClientHello summary (backends and tests make these).
    public init(serverName: String?, signatureSchemes: [TLSSignatureScheme], applicationProtocols: [TLSApplicationProtocol]) {
        self.serverName = serverName
        self.signatureSchemes = signatureSchemes
        self.applicationProtocols = applicationProtocols
    }

    /// Whether the client accepts one of the schemes a key of this kind signs with, so a
    /// resolver holding an ECDSA and an RSA chain can pick the one the client can check.
    public func accepts(anyOf schemes: [TLSSignatureScheme]) -> Bool {
        signatureSchemes.isEmpty || schemes.contains(where: signatureSchemes.contains)
    }
}

/// A resolver's answer: which chain the server presents to this client.
public enum TLSCertificateSelection: Hashable, Sendable {
    /// The context's own choice: the first of ``TLSServerConfiguration/certificateChains``
    /// valid for the server name, else the first.
    case configured
    /// This chain. The backend loads a chain the first time it is returned and keeps it
    /// (see ``TLSContextHooks/certificateResolver``), so returning the same value again is
    /// cheap.
    case chain(TLSSigningChain)
    /// No certificate for this client: the handshake fails with an `unrecognized_name`
    /// alert, and the server's error is a ``TLSError/Code/handshake`` with this reason.
    case reject(String)
}

extension TLSContextHooks {
    /// The most chains a server context keeps loaded for its resolver; the least recently
    /// used is dropped (and loaded again if it is returned again).
    public static let resolvedChainCapacity = 64
}

/// The chains a server context has loaded for its resolver, by description, least recently
/// used dropped first. `Loaded` is the backend's loaded form (an `SSL_CTX`, a GnuTLS
/// credentials object), kept alive by the connections that use it. `package`: for backends.
package final class TLSResolvedChains<Loaded: AnyObject & Sendable>: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private let lock = TLSMutex()
    private var entries: [TLSSigningChain: (loaded: Loaded, lastUse: UInt64)] = [:]
    private var clock: UInt64 = 0
    /// Bumped by ``removeAll()``: a chain loaded before a reload must not be cached after it.
    private var generation: UInt64 = 0
    private let capacity: Int

    package init(capacity: Int = TLSContextHooks.resolvedChainCapacity) { self.capacity = capacity }

    /// The loaded form of `chain`, loading it (outside the lock) the first time.
    package func loaded(_ chain: TLSSigningChain, load: (TLSSigningChain) throws(TLSError) -> Loaded) throws(TLSError) -> Loaded {
        let (hit, loadedIn) = lock.withLock { () -> (Loaded?, UInt64) in
            clock += 1
            guard let entry = entries[chain] else { return (nil, generation) }
            entries[chain] = (entry.loaded, clock)
            return (entry.loaded, generation)
        }
        if let hit { return hit }
        let fresh = try load(chain)
        return lock.withLock {
            // A reload while this chain was read: use it for this handshake only, so the
            // next one reads the files again.
            guard loadedIn == generation else { return fresh }
            clock += 1
            if let raced = entries[chain] {
                entries[chain] = (raced.loaded, clock)
                return raced.loaded
            }
            if entries.count >= capacity, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                entries[oldest] = nil
            }
            entries[chain] = (fresh, clock)
            return fresh
        }
    }

    /// How many chains are loaded.
    package var count: Int { lock.withLock { entries.count } }

    /// Forgets every loaded chain (after a reload: files are read again on next use).
    package func removeAll() {
        lock.withLock {
            entries.removeAll()
            generation += 1
        }
    }
}

/// The signature schemes and application protocols in a ClientHello's extensions, read
/// from the extension bodies the backends hand over. Malformed bodies give empty lists:
/// the TLS library rejects such a ClientHello itself. `package`: for backends.
package enum TLSClientHelloExtensions {
    /// `server_name` (0): a 2-byte list length, then entries of a 1-byte type and a 2-byte
    /// length. The host_name entry (type 0), if it is a valid DNS name, in its normal form
    /// (lower case, no trailing dot), as ``TLSServerName`` reads it.
    package static func serverName(_ body: UnsafeRawBufferPointer) -> String? {
        guard body.count >= 2, (Int(body[0]) << 8 | Int(body[1])) + 2 == body.count else { return nil }
        var offset = 2
        while offset + 3 <= body.count {
            let type = body[offset]
            let count = Int(body[offset + 1]) << 8 | Int(body[offset + 2])
            guard offset + 3 + count <= body.count else { return nil }
            if type == 0 {
                let text = String(decoding: body[(offset + 3)..<(offset + 3 + count)], as: UTF8.self)
                guard let name = try? TLSServerName(text), case .dns(let dns) = name.kind else { return nil }
                return dns
            }
            offset += 3 + count
        }
        return nil
    }

    /// `signature_algorithms` (13): a 2-byte length, then 2-byte schemes.
    package static func signatureSchemes(_ body: UnsafeRawBufferPointer) -> [TLSSignatureScheme] {
        guard body.count >= 2 else { return [] }
        let length = Int(body[0]) << 8 | Int(body[1])
        guard length % 2 == 0, length + 2 == body.count else { return [] }
        return stride(from: 2, to: 2 + length, by: 2).map { TLSSignatureScheme(rawValue: UInt16(body[$0]) << 8 | UInt16(body[$0 + 1])) }
    }

    /// `application_layer_protocol_negotiation` (16): a 2-byte length, then 1-byte-length names.
    package static func applicationProtocols(_ body: UnsafeRawBufferPointer) -> [TLSApplicationProtocol] {
        guard body.count >= 2 else { return [] }
        let length = Int(body[0]) << 8 | Int(body[1])
        guard length + 2 == body.count else { return [] }
        var protocols: [TLSApplicationProtocol] = []
        var offset = 2
        while offset < body.count {
            let count = Int(body[offset])
            guard count > 0, offset + 1 + count <= body.count,
                let name = TLSApplicationProtocol(bytes: Array(body[(offset + 1)..<(offset + 1 + count)]))
            else { return [] }
            protocols.append(name)
            offset += 1 + count
        }
        return protocols
    }
}

/// Where a server's chains came from, for the field a configuration error names.
/// `package`: for backends.
package enum TLSChainOrigin: Sendable {
    /// `TLSServerConfiguration.certificateChains`, or a rotation's chains.
    case configuration
    /// A chain `TLSContextHooks.certificateResolver` returned.
    case resolver

    /// `certificateChains[index]`, or `certificateResolver`.
    package func field(_ index: Int) -> String {
        switch self {
        case .configuration: "certificateChains[\(index)]"
        case .resolver: "certificateResolver"
        }
    }
}
