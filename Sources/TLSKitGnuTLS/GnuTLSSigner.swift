internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
import TLSKit

/// Keys held by a ``TLSSigner``: `gnutls_privkey_import_ext4` with a hash-signing callback
/// (CTLSKitGnuTLSSigner) that calls back here with a digest.
enum GnuTLSSigner {
    private static let callbacksSet: Bool = {
        CTLSKitGnuTLSSigner_set_callbacks(signCallback, releaseCallback)
        return true
    }()

    /// Makes `privkey` sign through `signer`.
    static func importKey(_ privkey: gnutls_privkey_t, _ signer: TLSAnySigner, field: String) throws(TLSError) {
        try signer.checkForContext(field: field)
        precondition(callbacksSet)
        let schemes = signer.backendSchemeCodes
        let publicKey = signer.base.publicKey
        let retained = signer.retainedForC()
        var message = [CChar](repeating: 0, count: 512)
        let status = publicKey.withUnsafeBufferPointer { spki in
            schemes.withUnsafeBufferPointer { list in
                CTLSKitGnuTLSSigner_import(
                    privkey, spki.baseAddress, spki.count, list.baseAddress, list.count, signer.name, retained, &message,
                    message.count)
            }
        }
        guard status == 0 else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw TLSError(
                .configuration, "\(field): \(signer) cannot be used: \(text.isEmpty ? String(cString: gnutls_strerror(status)) : text)",
                feature: field)
        }
    }

    /// Whether the signer's public key is the certificate's.
    static func matches(_ signer: TLSAnySigner, certificateKey: gnutls_pubkey_t) -> Bool {
        let spki = signer.base.publicKey
        return spki.withUnsafeBufferPointer { CTLSKitGnuTLSSigner_same_key(certificateKey, $0.baseAddress, $0.count) } == 1
    }

    /// The last signer failure on this thread, if the handshake failed because of one.
    static func takeFailure() -> String? {
        guard let text = CTLSKitGnuTLSSigner_take_failure(), text.pointee != 0 else { return nil }
        return String(cString: text)
    }
}

private let signCallback: CTLSKitGnuTLSSigner_sign_fn = { opaque, scheme, digest, digestLength, out, capacity, written, message, messageCapacity in
    guard let opaque, let written else { return 0 }
    return TLSAnySigner.fromC(opaque).signForBackend(
        scheme: scheme, digest: digest, digestLength: digestLength, out: out, capacity: capacity, written: written, message: message,
        messageCapacity: messageCapacity)
}

private let releaseCallback: CTLSKitGnuTLSSigner_release_fn = { opaque in
    guard let opaque else { return }
    TLSAnySigner.releaseFromC(opaque)
}
