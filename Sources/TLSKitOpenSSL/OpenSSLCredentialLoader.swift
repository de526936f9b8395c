internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// MARK: - Loading

/// Loads credential descriptions into OpenSSL objects inside one library context.
///
/// Bytes go into OpenSSL through read-only memory BIOs, never through temporary files.
/// Key files are read by OpenSSL itself, so their bytes never pass through Swift.
struct OpenSSLCredentialLoader {
    let library: OpenSSLLibraryContext

    // MARK: Certificates

    /// Loads every certificate a description holds (leaf first).
    func certificates(_ certificate: TLSCertificate, field: String) throws(TLSError) -> [OpenSSLCertificateRef] {
        switch certificate.source {
        case .pem(let bytes):
            return try parseCertificates(bytes, origin: "the PEM given in \(field)", field: field)
        case .der(let bytes):
            return [try parseDER(bytes, origin: "the DER given in \(field)", field: field)]
        case .file(let path):
            let bytes = try TLSCredentialFiles.read(path, field: field, what: "certificate")
            return try parseCertificates(bytes, origin: "the file \(path)", field: field)
        case .identifier(let uri):
            return try loadFromStore(uri: uri, field: field, passphrase: nil, expect: .certificate).certificates
        }
    }

    func parseCertificates(_ bytes: [UInt8], origin: String, field: String) throws(TLSError) -> [OpenSSLCertificateRef] {
        if !TLSCredentialFiles.looksLikePEM(bytes) {
            return [try parseDER(bytes, origin: origin, field: field)]
        }
        var result: [OpenSSLCertificateRef] = []
        var failure: [OpenSSLErrorEntry] = []
        bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return }
            defer { BIO_free(bio) }
            ERR_clear_error()
            while true {
                var x509: OpaquePointer? = X509_new_ex(library.pointer, library.propertyQuery)
                if PEM_read_bio_X509(bio, &x509, nil, nil) == nil {
                    if let x509 { X509_free(x509) }
                    let entries = OpenSSLErrorStack.drain()
                    // The end of the input shows as "no start line"; anything else is a real error.
                    let endOfInput = entries.last.map { $0.library == ERR_LIB_PEM && $0.reason == PEM_R_NO_START_LINE } ?? true
                    if !endOfInput || result.isEmpty { failure = entries }
                    break
                }
                if let x509 { result.append(OpenSSLCertificateRef(takingOwnership: x509)) }
            }
        }
        if result.isEmpty {
            throw .unreadableCertificate(field: field, origin: origin, bytes: bytes, backendErrors: failure.map(\.text))
        }
        return result
    }

    func parseDER(_ bytes: [UInt8], origin: String, field: String) throws(TLSError) -> OpenSSLCertificateRef {
        ERR_clear_error()
        let parsed: OpaquePointer? = bytes.withUnsafeBufferPointer { buffer in
            var x509: OpaquePointer? = X509_new_ex(library.pointer, library.propertyQuery)
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            if d2i_X509(&x509, &cursor, buffer.count) == nil {
                if let x509 { X509_free(x509) }
                return nil
            }
            return x509
        }
        guard let parsed else {
            throw TLSError(
                .configuration,
                "\(field): \(origin) is neither PEM (-----BEGIN CERTIFICATE-----) nor a DER certificate",
                backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: field)
        }
        return OpenSSLCertificateRef(takingOwnership: parsed)
    }

    // MARK: Private keys

    func privateKey(_ key: TLSPrivateKey, field: String) throws(TLSError) -> OpenSSLKeyRef {
        let passphrase = try PassphraseBox(key.passphrase, field: field)
        switch key.source {
        case .pem(let secure), .der(let secure):
            let origin = "the key bytes given in \(field)"
            let result: Result<OpenSSLKeyRef, TLSError> = secure.withUnsafeBytes { raw in
                guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
                    return .failure(TLSError(.internal, "BIO_new_mem_buf failed"))
                }
                defer { BIO_free(bio) }
                return Result { () throws(TLSError) in try readKey(bio: bio, passphrase: passphrase, origin: origin, field: field) }
            }
            return try result.get()
        case .file(let path):
            try TLSCredentialFiles.checkReadable(path, field: field, what: "private key")
            if let owner = try providerKeyLabel(path, field: field) {
                // A key that only a provider understands (a TPM blob, a token URI): its
                // store loader decodes it inside that provider.
                let absolute = path.hasPrefix("/") ? path : currentDirectory() + "/" + path
                let loaded = try loadFromStore(uri: "file:" + absolute, field: field, passphrase: passphrase, expect: .privateKey)
                guard let key = loaded.key else {
                    throw TLSError(.configuration, "\(field): the \(owner) provider could not load \(path)", feature: field)
                }
                return key
            }
            guard let bio = BIO_new_file(path, "rb") else {
                throw TLSError(
                    .configuration, "\(field): cannot open the key file \(path)",
                    backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: field)
            }
            defer { BIO_free(bio) }
            return try readKey(bio: bio, passphrase: passphrase, origin: "the file \(path)", field: field)
        case .identifier(let uri):
            // A provider that owns the scheme (pkcs11-provider) wins; the ENGINE bridge is
            // the fallback where no provider does.
            let scheme = String(uri.prefix { $0 != ":" })
            if let engine = library.engine(for: uri), !library.identifierSchemes.contains(scheme) {
                // The engine's PIN is set per load (a control on the ENGINE), then the key loaded:
                // one load at a time, like every token load (TLSTokenSerialisation).
                return try TLSTokenSerialisation.run(if: true) { () throws(TLSError) in
                    try loadFromEngine(engine, uri: uri, passphrase: passphrase, field: field)
                }
            }
            let loaded = try loadFromStore(uri: uri, field: field, passphrase: passphrase, expect: .privateKey)
            guard let key = loaded.key else {
                throw TLSError(.configuration, "\(field): no private key found at \(redact(uri))", feature: field)
            }
            return key
        case .signer(let signer):
            return try OpenSSLSigner.key(signer, library: library, field: field)
        }
    }

    private func readKey(bio: OpaquePointer, passphrase: PassphraseBox, origin: String, field: String) throws(TLSError)
        -> OpenSSLKeyRef
    {
        ERR_clear_error()
        let unmanaged = Unmanaged.passUnretained(passphrase).toOpaque()
        if let pem = PEM_read_bio_PrivateKey_ex(
            bio, nil, passphraseCallback, unmanaged, library.pointer, library.propertyQuery)
        {
            ERR_clear_error()
            return OpenSSLKeyRef(takingOwnership: pem)
        }
        let pemErrors = OpenSSLErrorStack.drain()
        let notPEM = pemErrors.contains { $0.library == ERR_LIB_PEM && $0.reason == PEM_R_NO_START_LINE }
        if notPEM, BIO_ctrl(bio, BIO_CTRL_RESET, 0, nil) >= 0 {
            if let der = d2i_PrivateKey_ex_bio(bio, nil, library.pointer, library.propertyQuery) {
                ERR_clear_error()
                return OpenSSLKeyRef(takingOwnership: der)
            }
            _ = OpenSSLErrorStack.drain()
            throw TLSError(
                .configuration,
                "\(field): \(origin) holds no private key: it is neither PEM (-----BEGIN PRIVATE KEY-----) "
                    + "nor a DER private key",
                backendErrors: pemErrors.map(\.text), feature: field)
        }
        if passphrase.wasAsked && !passphrase.hasPassphrase {
            throw TLSError(
                .configuration,
                "\(field): the private key in \(origin) is encrypted; give its passphrase "
                    + "(TLSPrivateKey's passphrase)",
                backendErrors: pemErrors.map(\.text), feature: field)
        }
        if passphrase.wasAsked {
            throw TLSError(
                .configuration, "\(field): the passphrase for the private key in \(origin) is wrong",
                backendErrors: pemErrors.map(\.text), feature: field)
        }
        throw TLSError(
            .configuration,
            "\(field): the private key in \(origin) cannot be read: the PEM block is damaged or holds "
                + "a key type no loaded provider can decode",
            backendErrors: pemErrors.map(\.text), feature: field)
    }

    /// Provider-owned PEM labels: a TSS2 blob belongs to tpm2, a token URI to pkcs11. Reads
    /// only the first line of the file (never key material).
    private func providerKeyLabel(_ path: String, field: String) throws(TLSError) -> String? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var head = [UInt8](repeating: 0, count: 40)
        let n = fread(&head, 1, head.count, file)
        let line = String(decoding: head.prefix(n), as: UTF8.self)
        let owners = [("-----BEGIN TSS2 PRIVATE KEY-----", "tpm2"), ("-----BEGIN PKCS#11 PROVIDER URI-----", "pkcs11")]
        guard let (_, owner) = owners.first(where: { line.hasPrefix($0.0) }) else { return nil }
        guard library.hasProvider(owner) else {
            throw TLSError(
                .configuration,
                "\(field): \(path) is a key that only the '\(owner)' provider can use, and it is not loaded; "
                    + (owner == "tpm2"
                        ? "use OpenSSLBackend(providers: [.default, .tpm2()], propertyQuery: \"?tpm2.signature\")"
                        : "load the pkcs11 provider"),
                feature: field)
        }
        return owner
    }

    private func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Loads a key through an ENGINE (the opt-in PKCS#11 bridge).
    private func loadFromEngine(_ engine: OpenSSLEngineHandle, uri: String, passphrase: PassphraseBox, field: String)
        throws(TLSError) -> OpenSSLKeyRef
    {
        // libp11 prints the URI it could not load; give it the URI without the PIN and the
        // PIN through its PIN control, so the PIN never reaches a log.
        let parsed = TLSPKCS11URI(uri)
        let uri = parsed?.withoutPIN ?? uri
        if let pin = parsed?.pin ?? passphrase.secret.map({ $0.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }) {
            _ = CTLSKitOpenSSLShims_ENGINE_ctrl_cmd_string(engine.pointer, "PIN", pin, 0)
        }
        guard let ui = UI_UTIL_wrap_read_pem_callback(passphraseCallback, 0) else {
            throw TLSError(.internal, "UI_UTIL_wrap_read_pem_callback failed")
        }
        defer { UI_destroy_method(ui) }
        ERR_clear_error()
        let unmanaged = Unmanaged.passUnretained(passphrase).toOpaque()
        guard let key = CTLSKitOpenSSLShims_ENGINE_load_private_key(engine.pointer, uri, ui, unmanaged) else {
            let errors = OpenSSLErrorStack.drain()
            let text = errors.map(\.text).joined(separator: " ").lowercased()
            let wrongPIN = text.contains("pin") || text.contains("login")
            throw TLSError(
                .configuration,
                wrongPIN
                    ? "\(field): the token refused the PIN for \(redact(uri)); check pin-value or the passphrase source"
                    : "\(field): the \(engine.id) engine found no private key at \(redact(uri)) (check token, object and "
                        + "type=private, and that the token's module is the engine's MODULE_PATH or known to p11-kit)",
                backendErrors: errors.map(\.text), feature: field)
        }
        ERR_clear_error()
        return OpenSSLKeyRef(takingOwnership: key)
    }
}

extension OpenSSLCredentialLoader {
    /// A URI as it may be shown: without its PIN.
    func redact(_ uri: String) -> String { TLSRedaction.redactingPIN(uri) }
}
