internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
public import TLSKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension GnuTLSBackend: TLSKeyStoreBrowsing {
    /// Lists a PKCS#11 token (or a part of it) through p11-kit, with each object's URI.
    /// With a PIN, private objects are listed too.
    public func listObjects(in identifier: String, passphrase: TLSPassphrase?) throws(TLSError) -> [TLSStoreObject] {
        guard TLSPKCS11URI(identifier) != nil else {
            throw TLSError.configuration(field: "store", "GnuTLS lists pkcs11: stores only, not \(TLSRedaction.redactingPIN(identifier))")
        }
        var url = identifier
        // A PIN given beside the URI joins it percent-encoded, so no character of the PIN
        // can end the attribute; a PIN in the URI wins.
        if let parsed = TLSPKCS11URI(identifier), !parsed.hasPIN, let passphrase {
            url = parsed.adding(pin: try passphrase.resolve(field: "store"))
        }
        var list: UnsafeMutablePointer<gnutls_pkcs11_obj_t?>?
        var count: UInt32 = 0
        let flags = passphrase != nil || TLSPKCS11URI(identifier)?.hasPIN == true ? GNUTLS_PKCS11_OBJ_FLAG_LOGIN.rawValue : 0
        let status = TLSTokenSerialisation.locked { gnutls_pkcs11_obj_list_import_url4(&list, &count, url, flags) }
        guard status == GNUTLS_E_SUCCESS else {
            throw TLSError(
                .configuration,
                status == GNUTLS_E_PKCS11_PIN_ERROR
                    ? "the token refused the PIN"
                    : "cannot list \(TLSRedaction.redactingPIN(identifier)): \(String(cString: gnutls_strerror(status)))",
                feature: "store")
        }
        guard let list else { return [] }
        defer {
            for i in 0..<Int(count) { if let obj = list[i] { gnutls_pkcs11_obj_deinit(obj) } }
            CTLSKitGnuTLSShims_gnutls_free(list)
        }
        var objects: [TLSStoreObject] = []
        for i in 0..<Int(count) {
            guard let obj = list[i] else { continue }
            var uri: UnsafeMutablePointer<CChar>?
            _ = gnutls_pkcs11_obj_export_url(obj, GNUTLS_PKCS11_URL_GENERIC, &uri)
            let identifierText = uri.map { String(cString: $0) }
            if let uri { CTLSKitGnuTLSShims_gnutls_free(uri) }
            var buffer = [CChar](repeating: 0, count: 256)
            var size = buffer.count
            _ = gnutls_pkcs11_obj_get_info(obj, GNUTLS_PKCS11_OBJ_LABEL, &buffer, &size)
            let label = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let kind: TLSStoreObject.Kind
            switch gnutls_pkcs11_obj_get_type(obj) {
            case GNUTLS_PKCS11_OBJ_PRIVKEY: kind = .privateKey
            case GNUTLS_PKCS11_OBJ_X509_CRT: kind = .certificate
            case GNUTLS_PKCS11_OBJ_PUBKEY: kind = .publicKey
            default: kind = .other
            }
            objects.append(TLSStoreObject(kind: kind, identifier: identifierText.map(TLSRedaction.redactingPIN), label: label.isEmpty ? nil : label))
        }
        return objects
    }
}
