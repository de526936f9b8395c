internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit

/// Owns one `X509*` (freed in deinit).
final class OpenSSLCertificateRef: @unchecked Sendable {
    // @unchecked: the X509 is never mutated after loading; OpenSSL reference-counts it.
    let pointer: OpaquePointer
    init(takingOwnership pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_free(pointer) }

    /// The certificate's DER encoding.
    var der: [UInt8] { OpenSSLCertificateRef.der(of: pointer) }

    static func der(of x509: OpaquePointer) -> [UInt8] {
        let length = i2d_X509(x509, nil)
        guard length > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: Int(length))
        out.withUnsafeMutableBufferPointer { buffer in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            _ = i2d_X509(x509, &cursor)
        }
        return out
    }
}

/// Owns one `EVP_PKEY*` (freed in deinit). The key may live in a provider (TPM, token);
/// then this is only a handle.
final class OpenSSLKeyRef: @unchecked Sendable {
    // @unchecked: never mutated after loading.
    let pointer: OpaquePointer
    init(takingOwnership pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }
}

/// Owns one `X509_STORE*` until it is handed to an `SSL_CTX`.
final class OpenSSLStoreRef {
    var pointer: OpaquePointer?
    init(takingOwnership pointer: OpaquePointer) { self.pointer = pointer }
    /// Gives the store away (to `SSL_CTX_set_cert_store`, which takes ownership).
    func release() -> OpaquePointer? {
        defer { pointer = nil }
        return pointer
    }
    deinit { if let pointer { X509_STORE_free(pointer) } }
}
