/// A private key that lives outside every C library: code of yours that signs on request.
///
/// Use it for keys no backend can resolve by identifier: a secure enclave, a cloud KMS, a
/// signing daemon in another process. The key never enters TLSKit or the TLS library; the
/// backend hands the signer a digest and sends back what it returns. Attach one with
/// ``TLSPrivateKey/signer(_:name:)``.
///
/// What the backend asks for:
/// - `digest` is the hash of the content to be signed, made with the scheme's hash
///   (SHA-256 for `ecdsa_secp256r1_sha256`, `rsa_pss_rsae_sha256` and `rsa_pkcs1_sha256`).
///   Both backends hash the TLS transcript themselves, so the signer never sees it.
/// - The answer, by scheme:
///   - ECDSA: the DER `ECDSA-Sig-Value` (`SEQUENCE { r, s }`), as TLS sends it;
///   - RSA-PSS (`rsa_pss_rsae_*`): the raw signature, MGF1 with the scheme's hash and a
///     salt as long as the hash (RFC 8446, section 4.2.3);
///   - RSA PKCS#1 v1.5 (`rsa_pkcs1_*`, TLS 1.2 only): the raw signature over the
///     `DigestInfo` of the digest.
/// - Supported key types: ECDSA (P-256, P-384, P-521) and RSA. Ed25519 and Ed448 sign the
///   whole message, which neither backend's hook hands over: they are refused when the
///   context is built.
///
/// Every signature is checked against ``publicKey`` before it is sent, so a signer that
/// returns a wrong signature (a KMS holding another key, a truncated answer) fails the
/// handshake with an error that names the signer, instead of a `decrypt_error` from the peer.
///
/// ``sign(digest:scheme:)`` runs synchronously on the thread driving the handshake (an
/// event loop, for TLSKitNIO): a signer that waits for a network service blocks that
/// thread for as long. Keep it fast, or serve such keys from a dedicated loop or thread.
public protocol TLSSigner: Sendable {
    /// The public key, as a DER `SubjectPublicKeyInfo`. It must be the certificate's key;
    /// a mismatch is refused when the context is built.
    var publicKey: [UInt8] { get }
    /// The schemes this signer can produce. A backend picks only among these (and those
    /// the peer offers); a handshake for which none fits fails with a `handshake` error and a
    /// `handshake_failure` alert (for example TLS 1.3, which signs with RSA-PSS only, and a
    /// signer that lists only `rsa_pkcs1_*` schemes).
    var signatureSchemes: [TLSSignatureScheme] { get }
    /// Signs `digest` for `scheme` (see the type's documentation for the formats).
    /// A thrown error fails the handshake; its description becomes part of the `TLSError`.
    func sign(digest: [UInt8], scheme: TLSSignatureScheme) throws -> [UInt8]
}

/// A type-erased ``TLSSigner`` with a name, as ``TLSPrivateKey/Source/signer(_:)`` holds it.
///
/// Equality is identity: two values are equal when they wrap the same attachment (copies of
/// one ``TLSPrivateKey/signer(_:name:)`` result), so a configuration that holds a signer is
/// `Hashable` and a context cache reuses the context built for it.
public struct TLSAnySigner: Hashable, Sendable, CustomStringConvertible {
    private final class Box: Sendable {
        let base: any TLSSigner
        init(_ base: any TLSSigner) { self.base = base }
    }

    private let box: Box
    /// A short name for errors and logs (`kms:prod-web`, `enclave`, …).
    public let name: String
    /// The signer.
    public var base: any TLSSigner { box.base }

    /// Wraps `signer` under `name`.
    public init(_ signer: any TLSSigner, name: String) {
        box = Box(signer)
        self.name = name
    }

    public static func == (lhs: TLSAnySigner, rhs: TLSAnySigner) -> Bool { lhs.box === rhs.box }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(box)) }
    public var description: String { "signer '\(name)'" }

    /// Calls the signer, turning what it throws into a message that names it. `package`:
    /// what backends call from their signing hooks.
    package func signForBackend(digest: [UInt8], scheme: TLSSignatureScheme) -> Result<[UInt8], TLSSignerFailure> {
        guard base.signatureSchemes.contains(scheme) else {
            return .failure(TLSSignerFailure("\(self) was asked for \(scheme), which it does not list in signatureSchemes"))
        }
        do {
            let signature = try base.sign(digest: digest, scheme: scheme)
            guard !signature.isEmpty else { return .failure(TLSSignerFailure("\(self) returned an empty signature for \(scheme)")) }
            return .success(signature)
        } catch {
            return .failure(TLSSignerFailure("\(self) failed to sign for \(scheme): \(error)"))
        }
    }

    /// What a backend's C signing callback does: signs the `digestLength` bytes at `digest`
    /// for the TLS scheme `scheme`, writes the signature to `out` (at most `capacity` bytes)
    /// and its length to `written`, and returns 1; or writes a NUL-terminated message naming
    /// the signer and the cause to `message` and returns 0.
    package func signForBackend(
        scheme: UInt16, digest: UnsafePointer<UInt8>?, digestLength: Int, out: UnsafeMutablePointer<UInt8>?, capacity: Int,
        written: UnsafeMutablePointer<Int>, message: UnsafeMutablePointer<CChar>?, messageCapacity: Int
    ) -> Int32 {
        let input = digest.map { Array(UnsafeBufferPointer(start: $0, count: digestLength)) } ?? []
        let failure: String
        switch signForBackend(digest: input, scheme: TLSSignatureScheme(rawValue: scheme)) {
        case .success(let signature):
            if let out, signature.count <= capacity {
                signature.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: signature.count) }
                written.pointee = signature.count
                return 1
            }
            failure = "\(self) returned \(signature.count) bytes, more than a signature of this key can be (\(capacity))"
        case .failure(let error):
            failure = error.message
        }
        if let message, messageCapacity > 0 {
            let bytes = Array(failure.utf8.prefix(messageCapacity - 1))
            bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { message.update(from: $0.baseAddress!, count: bytes.count) }
            }
            message[bytes.count] = 0
        }
        return 0
    }

    /// The checks a backend makes when a context is built: a known key type and at least
    /// one scheme either backend can ask for.
    package func checkForContext(field: String) throws(TLSError) {
        if backendSchemeCodes.isEmpty {
            let listed = base.signatureSchemes.map(\.description).joined(separator: ", ")
            throw TLSError.configuration(
                field: field,
                "\(self) lists no scheme a backend can ask a signer for (it lists: \(listed.isEmpty ? "none" : listed)); "
                    + "list ECDSA (ecdsa_secp256r1_sha256, …), RSA-PSS (rsa_pss_rsae_sha256, …) or RSA PKCS#1 schemes. "
                    + "Ed25519 and Ed448 signers are not supported")
        }
        if base.publicKey.isEmpty {
            throw TLSError.configuration(field: field, "\(self) has an empty publicKey; give the DER SubjectPublicKeyInfo of its key")
        }
    }

    /// The codes of the listed schemes a backend can ask for: what the C layers are given.
    package var backendSchemeCodes: [UInt16] { base.signatureSchemes.filter(Self.backendSchemes.contains).map(\.rawValue) }

    /// A retained reference to this signer, as a C callback's user data: read it with
    /// ``fromC(_:)`` and end it with ``releaseFromC(_:)`` (when the C key is freed).
    package func retainedForC() -> UnsafeMutableRawPointer { Unmanaged.passRetained(CReference(self)).toOpaque() }
    /// The signer behind a reference made by ``retainedForC()``.
    package static func fromC(_ reference: UnsafeMutableRawPointer) -> TLSAnySigner {
        Unmanaged<CReference>.fromOpaque(reference).takeUnretainedValue().signer
    }
    /// Ends a reference made by ``retainedForC()``.
    package static func releaseFromC(_ reference: UnsafeMutableRawPointer) { Unmanaged<CReference>.fromOpaque(reference).release() }

    private final class CReference {
        let signer: TLSAnySigner
        init(_ signer: TLSAnySigner) { self.signer = signer }
    }

    /// The schemes a backend can hand a signer: prehashed ECDSA, RSA-PSS (rsae) and RSA PKCS#1.
    package static let backendSchemes: Set<TLSSignatureScheme> = [
        .ecdsaSecp256r1SHA256, .ecdsaSecp384r1SHA384, .ecdsaSecp521r1SHA512,
        .rsaPSSRSAESHA256, .rsaPSSRSAESHA384, .rsaPSSRSAESHA512,
        .rsaPKCS1SHA256, .rsaPKCS1SHA384, .rsaPKCS1SHA512,
    ]
}

/// Why a signer did not produce a signature, as a message for the handshake's error.
package struct TLSSignerFailure: Error, Sendable {
    package let message: String
    package init(_ message: String) { self.message = message }
}

extension TLSPrivateKey {
    /// A key held by `signer`, named `name` in errors and logs. The certificate that goes
    /// with it must carry ``TLSSigner/publicKey``.
    public static func signer(_ signer: some TLSSigner, name: String) -> TLSPrivateKey {
        TLSPrivateKey(.signer(TLSAnySigner(signer, name: name)))
    }
}
