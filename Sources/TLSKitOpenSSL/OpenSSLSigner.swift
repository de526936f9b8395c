internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit

/// Keys held by a ``TLSSigner``: made in TLSKit's in-process provider (`tlskit-signer`,
/// CTLSKitOpenSSLSigner), whose signature functions call back here with a digest.
enum OpenSSLSigner {
    /// Sets the provider's callbacks, once per process.
    private static let callbacksSet: Bool = {
        CTLSKitSigner_set_callbacks(signCallback, releaseCallback)
        return true
    }()

    /// Makes the key for `signer` in `library`.
    static func key(_ signer: TLSAnySigner, library: OpenSSLLibraryContext, field: String) throws(TLSError) -> OpenSSLKeyRef {
        try signer.checkForContext(field: field)
        precondition(callbacksSet)
        ERR_clear_error()
        guard CTLSKitSigner_ensure_provider(library.pointer) == 1 else {
            throw TLSError(
                .internal, "\(field): the TLSKit signer provider could not be loaded into the library context",
                backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: field)
        }
        let schemes = signer.backendSchemeCodes
        let publicKey = signer.base.publicKey
        let retained = signer.retainedForC()
        let made: OpaquePointer? = publicKey.withUnsafeBufferPointer { spki in
            schemes.withUnsafeBufferPointer { list in
                CTLSKitSigner_make_key(library.pointer, spki.baseAddress, spki.count, list.baseAddress, list.count, signer.name, retained)
            }
        }
        guard let made else {
            let entries = OpenSSLErrorStack.drain()
            throw TLSError(
                .configuration,
                "\(field): \(signer) cannot be used: "
                    + (entries.last?.data.flatMap { $0.isEmpty ? nil : $0 } ?? "OpenSSL refused its key"),
                backendErrors: entries.map(\.text), feature: field)
        }
        return OpenSSLKeyRef(takingOwnership: made)
    }

    /// Restricts what `ctx` signs with to what `signer` lists. libssl asks a key's provider
    /// only whether it can sign with a digest, not with which RSA padding, so without this a
    /// TLS 1.2 server with a PKCS#1-only signer would pick RSA-PSS and fail. A server's list
    /// also serves for its CertificateRequest unless a client list is set: that one keeps every
    /// modern scheme, so verifying clients is unaffected. A client signs from its client list.
    static func restrictSigning(_ ctx: OpaquePointer, to signer: TLSAnySigner, isServer: Bool, field: String) throws(TLSError) {
        let listed = Set(signer.base.signatureSchemes)
        let ecdsa: [TLSSignatureScheme] = [.ecdsaSecp256r1SHA256, .ecdsaSecp384r1SHA384, .ecdsaSecp521r1SHA512]
        let rsa: [TLSSignatureScheme] = [
            .rsaPSSRSAESHA256, .rsaPSSRSAESHA384, .rsaPSSRSAESHA512, .rsaPKCS1SHA256, .rsaPKCS1SHA384, .rsaPKCS1SHA512,
        ]
        let isECDSA = ecdsa.contains(where: listed.contains)
        let keep = (isECDSA ? ecdsa.filter(listed.contains) : ecdsa) + (isECDSA ? rsa : rsa.filter(listed.contains))
        let others = ["ed25519", "ed448", "rsa_pss_pss_sha256", "rsa_pss_pss_sha384", "rsa_pss_pss_sha512"]
        let signing = (keep.map { TLSSignatureScheme.ianaNames[$0] ?? "" } + others).joined(separator: ":")
        let every = ((ecdsa + rsa).map { TLSSignatureScheme.ianaNames[$0] ?? "" } + others).joined(separator: ":")
        ERR_clear_error()
        let ok =
            isServer
            ? CTLSKitOpenSSLShims_SSL_CTX_set1_sigalgs_list(ctx, signing) == 1
                && CTLSKitOpenSSLShims_SSL_CTX_set1_client_sigalgs_list(ctx, every) == 1
            : CTLSKitOpenSSLShims_SSL_CTX_set1_client_sigalgs_list(ctx, signing) == 1
        guard ok else {
            throw TLSError(
                .internal, "\(field): OpenSSL refused the signature algorithms of \(signer) (\(signing))",
                backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: field)
        }
    }
}

private let signCallback: CTLSKitSigner_sign_fn = { opaque, scheme, digest, digestLength, out, capacity, written, message, messageCapacity in
    guard let opaque, let written else { return 0 }
    return TLSAnySigner.fromC(opaque).signForBackend(
        scheme: scheme, digest: digest, digestLength: digestLength, out: out, capacity: capacity, written: written, message: message,
        messageCapacity: messageCapacity)
}

private let releaseCallback: CTLSKitSigner_release_fn = { opaque in
    guard let opaque else { return }
    TLSAnySigner.releaseFromC(opaque)
}
