import Crypto
public import TLSKit
import _CryptoExtras

/// A ``TLSSigner`` whose key is held by swift-crypto in this process: what tests use to stand
/// for a secure enclave or a KMS. It can be told to misbehave.
public struct SwiftCryptoSigner: TLSSigner {
    /// How the signer misbehaves.
    public enum Fault: Sendable {
        /// Signs correctly.
        case none
        /// Flips one bit of every signature.
        case flipsABit
        /// Throws instead of signing.
        case throwsError
        /// Signs with another key of the same type.
        case signsWithAnotherKey
    }

    private enum Key: @unchecked Sendable {
        // @unchecked: swift-crypto's keys are immutable values.
        case p256(P256.Signing.PrivateKey)
        case rsa(_RSA.Signing.PrivateKey)
    }

    private let key: Key
    private let other: Key
    private let fault: Fault
    public let publicKey: [UInt8]
    public let signatureSchemes: [TLSSignatureScheme]
    /// Every scheme the signer was asked for, in order (shared by copies).
    public let requests = Requests()

    /// The scheme requests a signer received.
    public final class Requests: @unchecked Sendable {
        // @unchecked: guarded by `lock`.
        private let lock = TLSMutex()
        private var schemes: [TLSSignatureScheme] = []
        func append(_ scheme: TLSSignatureScheme) { lock.withLock { schemes.append(scheme) } }
        /// The requests so far.
        public var all: [TLSSignatureScheme] { lock.withLock { schemes } }
    }

    /// A signer for the key of `identity` (from ``TestPKI``), offering `schemes` (by default
    /// every scheme its key type can make).
    public init(_ identity: TestPKI.Identity, schemes: [TLSSignatureScheme]? = nil, fault: Fault = .none) throws {
        let pem = identity.privateKeyPEM
        if let p256 = try? P256.Signing.PrivateKey(pemRepresentation: pem) {
            key = .p256(p256)
            other = .p256(P256.Signing.PrivateKey())
            publicKey = Array(p256.publicKey.derRepresentation)
            signatureSchemes = schemes ?? [.ecdsaSecp256r1SHA256]
        } else {
            let rsa = try _RSA.Signing.PrivateKey(pemRepresentation: pem)
            key = .rsa(rsa)
            other = fault == .signsWithAnotherKey ? .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048)) : .rsa(rsa)
            publicKey = Array(rsa.publicKey.derRepresentation)
            signatureSchemes =
                schemes ?? [.rsaPSSRSAESHA256, .rsaPSSRSAESHA384, .rsaPSSRSAESHA512, .rsaPKCS1SHA256, .rsaPKCS1SHA384, .rsaPKCS1SHA512]
        }
        self.fault = fault
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String { "the test signer was told to refuse" }
    }

    public func sign(digest: [UInt8], scheme: TLSSignatureScheme) throws -> [UInt8] {
        requests.append(scheme)
        if fault == .throwsError { throw Refused() }
        var signature = try Self.sign(digest, scheme: scheme, with: fault == .signsWithAnotherKey ? other : key)
        if fault == .flipsABit { signature[signature.count / 2] ^= 0x01 }
        return signature
    }

    private static func sign(_ digest: [UInt8], scheme: TLSSignatureScheme, with key: Key) throws -> [UInt8] {
        switch key {
        case .p256(let p256):
            return Array(try p256.signature(for: try digest32(digest)).derRepresentation)
        case .rsa(let rsa):
            let padding: _RSA.Signing.Padding = [0x0804, 0x0805, 0x0806].contains(scheme.rawValue) ? .PSS : .insecurePKCS1v1_5
            switch digest.count {
            case 32: return Array(try rsa.signature(for: try digest32(digest), padding: padding).rawRepresentation)
            case 48: return Array(try rsa.signature(for: try load(digest, as: SHA384Digest.self), padding: padding).rawRepresentation)
            default: return Array(try rsa.signature(for: try load(digest, as: SHA512Digest.self), padding: padding).rawRepresentation)
            }
        }
    }

    private static func digest32(_ bytes: [UInt8]) throws -> SHA256Digest { try load(bytes, as: SHA256Digest.self) }

    /// swift-crypto has no public way to wrap a digest made elsewhere; its digest types are
    /// plain bytes, so they load from them.
    private static func load<D: Digest>(_ bytes: [UInt8], as type: D.Type) throws -> D {
        guard bytes.count == D.byteCount, MemoryLayout<D>.size == D.byteCount else { throw Refused() }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: D.self) }
    }
}
