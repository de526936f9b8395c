internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
package import TLSKit

extension OpenSSLBackend {
    /// Asks OpenSSL to serialise the private key that `key` resolves to (`i2d_PrivateKey`).
    ///
    /// For tests that prove a key held in a TPM or on a token cannot leave it: whatever
    /// comes back (nothing, a TPM blob, a key object without its secret) must not be a
    /// private key that matches the certificate. Not public API: TLSKit never exports keys.
    package func exportedPrivateKeyForTesting(_ key: TLSPrivateKey) throws(TLSError) -> [UInt8]? {
        let loaded = try OpenSSLCredentialLoader(library: library).privateKey(key, field: "privateKey")
        ERR_set_mark()
        defer { ERR_pop_to_mark() }
        let length = i2d_PrivateKey(loaded.pointer, nil)
        guard length > 0 else { return nil }
        var out = [UInt8](repeating: 0, count: Int(length))
        let written = out.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return i2d_PrivateKey(loaded.pointer, &cursor)
        }
        return written > 0 ? out : nil
    }
}

extension OpenSSLBackend {
    /// The name of the provider that holds the key `key` resolves to (`pkcs11`, `tpm2`,
    /// `default`), or `"engine"` for a key held through an ENGINE. For tests that prove a
    /// key is used where it lives.
    package func keyHolderForTesting(_ key: TLSPrivateKey) throws(TLSError) -> String {
        let loaded = try OpenSSLCredentialLoader(library: library).privateKey(key, field: "privateKey")
        guard let provider = EVP_PKEY_get0_provider(loaded.pointer) else { return "engine" }
        return OSSL_PROVIDER_get0_name(provider).map { String(cString: $0) } ?? "?"
    }
}

extension OpenSSLBackend {
    /// Leaves an entry on this thread's OpenSSL error queue, as unrelated code (a failed file
    /// open) would. For the test that proves a stale entry does not turn a connection's
    /// "needs input" into a failure (`SSL_get_error` reads the queue).
    package static func leaveStaleErrorForTesting() {
        _ = BIO_new_file("/nonexistent/tlskit-stale-error", "r")
    }
}
