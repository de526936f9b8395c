internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
import TLSKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Private keys: PEM/DER bytes (possibly encrypted), files, or URIs (PKCS#11).
enum GnuTLSKeys {
    /// Loads a key; for a token key the PIN storage is returned too and must be kept
    /// alive as long as the key (GnuTLS may ask for the PIN again when it signs).
    static func load(_ key: TLSPrivateKey, field: String) throws(TLSError) -> (gnutls_privkey_t, SecretCString?) {
        var privkey: gnutls_privkey_t?
        guard gnutls_privkey_init(&privkey) == GNUTLS_E_SUCCESS, let privkey else {
            throw GnuTLSFailure.internalError("gnutls_privkey_init", 0)
        }
        let passphrase = try passphraseText(key.passphrase, field: field)
        var pinStorage: SecretCString?
        do throws(TLSError) {
            switch key.source {
            case .pem(let secure), .der(let secure):
                try secure.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws(TLSError) in
                    try importRaw(privkey, raw, passphrase: passphrase, origin: "the key bytes given in \(field)", field: field)
                }
            case .file(let path):
                try loadFile(privkey, path, passphrase: passphrase, field: field)
            case .identifier(let uri):
                if let path = TLSCredentialFiles.path(fromFileURI: uri) {
                    try loadFile(privkey, path, passphrase: passphrase, field: field)
                } else {
                    try importURL(privkey, uri, passphrase: passphrase, field: field)
                    pinStorage = passphrase
                }
            case .signer(let signer):
                try GnuTLSSigner.importKey(privkey, signer, field: field)
            }
        } catch {
            gnutls_privkey_deinit(privkey)
            throw error
        }
        return (privkey, pinStorage)
    }

    /// Reads a key file into GnuTLS-owned memory (never a Swift array), imports it, and
    /// wipes the buffer.
    private static func loadFile(_ key: gnutls_privkey_t, _ path: String, passphrase: SecretCString?, field: String) throws(TLSError) {
        try TLSCredentialFiles.checkReadable(path, field: field, what: "private key")
        var datum = gnutls_datum_t()
        let status = gnutls_load_file(path, &datum)
        guard status == GNUTLS_E_SUCCESS, let data = datum.data else {
            throw TLSError.configuration(field: field, "cannot read the key file \(path): \(String(cString: gnutls_strerror(status)))")
        }
        defer {
            explicit_bzero(data, Int(datum.size))
            CTLSKitGnuTLSShims_gnutls_free(data)
        }
        try importRaw(
            key, UnsafeRawBufferPointer(start: data, count: Int(datum.size)), passphrase: passphrase,
            origin: "the file \(path)", field: field)
    }

    private static func importRaw(
        _ key: gnutls_privkey_t, _ raw: UnsafeRawBufferPointer, passphrase: SecretCString?, origin: String, field: String
    ) throws(TLSError) {
        let isPEM = raw.count > 10 && String(decoding: raw.prefix(4096), as: UTF8.self).contains("-----BEGIN")
        let text = isPEM ? String(decoding: raw.prefix(4096), as: UTF8.self) : ""
        if text.contains("-----BEGIN TSS2 PRIVATE KEY-----") {
            throw TLSError.unsupported(
                backend: "gnutls", feature: "TPM 2.0 keys (TSS2 key files)",
                "\(origin) is a TPM 2.0 key file, and Debian's GnuTLS is built without TPM 2.0 support; expose the "
                    + "key through a PKCS#11 token (tpm2-pkcs11) and give its pkcs11: URI, or use the OpenSSL backend "
                    + "with the tpm2 provider")
        }
        let encrypted = text.contains("ENCRYPTED")
        if encrypted && passphrase == nil {
            throw TLSError.configuration(
                field: field,
                "the private key in \(origin) is encrypted; give its passphrase "
                    + "(TLSPrivateKey's passphrase)")
        }
        var datum = gnutls_datum_t(
            data: UnsafeMutablePointer(mutating: raw.baseAddress?.assumingMemoryBound(to: UInt8.self)), size: UInt32(raw.count))
        let status = gnutls_privkey_import_x509_raw(key, &datum, isPEM ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, passphrase?.pointer, 0)
        guard status == GNUTLS_E_SUCCESS else {
            let reason = String(cString: gnutls_strerror(status))
            if encrypted || status == GNUTLS_E_DECRYPTION_FAILED {
                throw TLSError(
                    .configuration, "\(field): the passphrase for the private key in \(origin) is wrong",
                    backendErrors: [reason], feature: field)
            }
            if text.contains("CERTIFICATE-----") && !text.contains("PRIVATE KEY-----") {
                throw TLSError(
                    .configuration, "\(field): \(origin) holds a certificate, not a private key: were the certificate and key swapped?",
                    backendErrors: [reason], feature: field)
            }
            throw TLSError(
                .configuration,
                "\(field): the private key in \(origin) cannot be read: "
                    + (isPEM ? "the PEM block is damaged or holds an unsupported key type" : "it is neither PEM nor a DER private key"),
                backendErrors: [reason], feature: field)
        }
    }

    private static func importURL(_ key: gnutls_privkey_t, _ uri: String, passphrase: SecretCString?, field: String) throws(TLSError) {
        let shown = TLSPrivateKey.identifier(uri).description
        guard gnutls_url_is_supported(uri) != 0 else {
            let scheme = uri.split(separator: ":").first.map(String.init) ?? uri
            throw TLSError(
                .configuration,
                "\(field): GnuTLS does not understand the URI scheme '\(scheme)' of \(shown); "
                    + (scheme == "handle" || uri.contains("TSS2")
                        ? "Debian's GnuTLS has no TPM 2.0 support — expose the TPM through a PKCS#11 token (tpm2-pkcs11) and use its pkcs11: URI, or use the OpenSSL backend with the tpm2 provider"
                        : "it supports pkcs11: URIs through p11-kit"),
                feature: field)
        }
        if let passphrase {
            gnutls_privkey_set_pin_function(key, pinCallback, Unmanaged.passUnretained(passphrase).toOpaque())
        }
        let status = TLSTokenSerialisation.locked { gnutls_privkey_import_url(key, uri, 0) }
        guard status == GNUTLS_E_SUCCESS else {
            throw TLSError(
                .configuration,
                status == GNUTLS_E_PKCS11_PIN_ERROR
                    ? "\(field): the PIN for \(shown) was refused; check pin-value or the passphrase source"
                    : "\(field): no private key found at \(shown): \(String(cString: gnutls_strerror(status)))",
                feature: field)
        }
    }

    private static func passphraseText(_ source: TLSPassphrase?, field: String) throws(TLSError) -> SecretCString? {
        try source?.resolve(field: field).withUnsafeBytes { SecretCString($0) }
    }
}

/// `gnutls_pin_callback_t`: hands the PIN from the `SecretCString` in `userdata` to GnuTLS,
/// once: a second attempt means the PIN was wrong, and retrying would lock the token.
private let pinCallback:
    @convention(c) (
        UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UInt32, UnsafeMutablePointer<CChar>?, Int
    ) -> Int32 = { userdata, attempt, _, _, _, pin, pinMax in
        guard attempt == 0, let userdata, let pin else { return -1 }
        let secret = Unmanaged<SecretCString>.fromOpaque(userdata).takeUnretainedValue()
        let length = strlen(secret.pointer)
        guard length < pinMax else { return -1 }
        memcpy(pin, secret.pointer, length + 1)
        return 0
    }

/// A NUL-terminated copy of a secret for C APIs, zeroed when released.
final class SecretCString {
    let pointer: UnsafeMutablePointer<CChar>
    private let count: Int

    init(_ bytes: UnsafeRawBufferPointer) {
        count = bytes.count + 1
        pointer = .allocate(capacity: count)
        pointer.initialize(repeating: 0, count: count)
        if let base = bytes.baseAddress { memcpy(pointer, base, bytes.count) }
    }

    deinit {
        explicit_bzero(pointer, count)
        pointer.deallocate()
    }
}
