internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
public import TLSKit

extension OpenSSLCredentialLoader {
    // MARK: Stores (URIs)

    enum Expectation { case privateKey, certificate }

    struct StoreContents {
        var key: OpenSSLKeyRef?
        var certificates: [OpenSSLCertificateRef] = []
    }

    func loadFromStore(uri: String, field: String, passphrase: PassphraseBox?, expect: Expectation) throws(TLSError)
        -> StoreContents
    {
        let scheme = uri.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        let schemes = library.identifierSchemes
        guard uri.contains(":"), schemes.contains(scheme) else {
            throw TLSError(
                .configuration,
                "\(field): no loaded OpenSSL provider understands the URI scheme '\(scheme)' of "
                    + "\(redact(uri)) (providers loaded: \(library.providerNames.joined(separator: ", ")); "
                    + "schemes available: \(schemes.joined(separator: ", "))). "
                    + (scheme == "handle"
                        ? "Load the tpm2 provider: OpenSSLBackend(providers: [.default, .tpm2()], propertyQuery: \"?tpm2.signature\")."
                        : scheme == "pkcs11"
                            ? "Load a pkcs11 provider, or use the ENGINE bridge: OpenSSLBackend(engines: [.pkcs11()])."
                            : "Load the provider that owns it."),
                feature: field)
        }
        var contents = StoreContents()
        let box: PassphraseBox
        if let passphrase { box = passphrase } else { box = try PassphraseBox(nil, field: field) }
        try forEachItem(
            in: uri, passphrase: box, field: field,
            openFailure: "\(field): cannot open \(redact(uri)): the store does not exist or refused access"
        ) { info in
            switch OSSL_STORE_INFO_get_type(info) {
            case OSSL_STORE_INFO_PKEY where expect == .privateKey && contents.key == nil:
                if let key = OSSL_STORE_INFO_get1_PKEY(info) { contents.key = OpenSSLKeyRef(takingOwnership: key) }
            case OSSL_STORE_INFO_CERT where expect == .certificate:
                if let cert = OSSL_STORE_INFO_get1_CERT(info) {
                    contents.certificates.append(OpenSSLCertificateRef(takingOwnership: cert))
                }
            default:
                break
            }
        }
        let errors = OpenSSLErrorStack.drain()
        let found = expect == .privateKey ? contents.key != nil : !contents.certificates.isEmpty
        if !found {
            let wrongPIN = errors.contains { $0.text.lowercased().contains("pin") }
            throw TLSError(
                .configuration,
                wrongPIN
                    ? "\(field): the PIN for \(redact(uri)) was refused; check pin-value or the passphrase source"
                    : "\(field): no \(expect == .privateKey ? "private key" : "certificate") found at \(redact(uri))"
                        + (scheme == "pkcs11"
                            ? " (check token, object and type; pkcs11-provider reports a wrong PIN this way too: check "
                                + "pin-value or the passphrase source)" : ""),
                backendErrors: errors.map(\.text), feature: field)
        }
        return contents
    }
}

extension OpenSSLBackend: TLSKeyStoreBrowsing {
    /// Lists a store through OSSL_STORE (names, keys and certificates it yields). Stores
    /// reached only through an ENGINE cannot be listed.
    public func listObjects(in identifier: String, passphrase: TLSPassphrase?) throws(TLSError) -> [TLSStoreObject] {
        let loader = OpenSSLCredentialLoader(library: library)
        let box = try PassphraseBox(passphrase, field: "store")
        return try loader.list(uri: identifier, passphrase: box)
    }
}

extension OpenSSLCredentialLoader {
    func list(uri: String, passphrase: PassphraseBox) throws(TLSError) -> [TLSStoreObject] {
        let scheme = uri.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        guard library.identifierSchemes.contains(scheme) else {
            throw TLSError(
                .configuration,
                "no loaded OpenSSL provider can list '\(scheme):' stores (schemes available: "
                    + "\(library.identifierSchemes.joined(separator: ", "))); "
                    + (scheme == "pkcs11" ? "use GnuTLSBackend, which lists tokens natively" : "load the provider that owns it"),
                feature: "store")
        }
        var objects: [TLSStoreObject] = []
        try forEachItem(
            in: uri, passphrase: passphrase, field: "store", openFailure: "cannot open the store \(redact(uri))"
        ) { info in
            switch OSSL_STORE_INFO_get_type(info) {
            case OSSL_STORE_INFO_NAME:
                let name = OSSL_STORE_INFO_get0_NAME(info).map { String(cString: $0) }
                let label = OSSL_STORE_INFO_get0_NAME_description(info).map { String(cString: $0) }
                objects.append(TLSStoreObject(kind: .other, identifier: name.map(redact), label: label))
            case OSSL_STORE_INFO_PKEY:
                objects.append(TLSStoreObject(kind: .privateKey, identifier: redact(uri), label: nil))
            case OSSL_STORE_INFO_PUBKEY:
                objects.append(TLSStoreObject(kind: .publicKey, identifier: redact(uri), label: nil))
            case OSSL_STORE_INFO_CERT:
                var label: String?
                if let cert = OSSL_STORE_INFO_get0_CERT(info), let name = X509_get_subject_name(cert),
                    let text = X509_NAME_oneline(name, nil, 0)
                {
                    label = String(cString: text)
                    CTLSKitOpenSSLShims_OPENSSL_free(text)
                }
                objects.append(TLSStoreObject(kind: .certificate, identifier: redact(uri), label: label))
            default:
                break
            }
        }
        ERR_clear_error()
        return objects
    }
}

extension OpenSSLCredentialLoader {
    /// Opens the store at `uri` (asking `passphrase` for a PIN or passphrase, never a
    /// terminal) and hands each item to `body`; the item is freed when `body` returns.
    func forEachItem(
        in uri: String, passphrase: PassphraseBox, field: String, openFailure: String, _ body: (OpaquePointer) -> Void
    ) throws(TLSError) {
        try TLSTokenSerialisation.run(if: uri.hasPrefix("pkcs11:")) { () throws(TLSError) in
            try forEachItemUnserialised(in: uri, passphrase: passphrase, field: field, openFailure: openFailure, body)
        }
    }

    private func forEachItemUnserialised(
        in uri: String, passphrase: PassphraseBox, field: String, openFailure: String, _ body: (OpaquePointer) -> Void
    ) throws(TLSError) {
        guard let ui = UI_UTIL_wrap_read_pem_callback(passphraseCallback, 0) else {
            throw TLSError(.internal, "UI_UTIL_wrap_read_pem_callback failed")
        }
        defer { UI_destroy_method(ui) }
        // OpenSSL holds only an unretained pointer to the box and may call the PIN callback
        // at any point until the store is closed: keep it alive until then.
        try withExtendedLifetime(passphrase) { () throws(TLSError) in
            ERR_clear_error()
            let unmanaged = Unmanaged.passUnretained(passphrase).toOpaque()
            guard let store = OSSL_STORE_open_ex(uri, library.pointer, library.propertyQuery, ui, unmanaged, nil, nil, nil) else {
                throw TLSError(.configuration, openFailure, backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: field)
            }
            defer { OSSL_STORE_close(store) }
            while OSSL_STORE_eof(store) == 0 {
                guard let info = OSSL_STORE_load(store) else {
                    if OSSL_STORE_error(store) != 0 { break }
                    continue
                }
                defer { OSSL_STORE_INFO_free(info) }
                body(info)
            }
        }
    }
}
