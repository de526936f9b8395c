#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
public import TLSKit

// MARK: - Owners of OpenSSL objects

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
            let bytes = try readFile(path, field: field, what: "certificate")
            return try parseCertificates(bytes, origin: "the file \(path)", field: field)
        case .identifier(let uri):
            return try loadFromStore(uri: uri, field: field, passphrase: nil, expect: .certificate).certificates
        }
    }

    func parseCertificates(_ bytes: [UInt8], origin: String, field: String) throws(TLSError) -> [OpenSSLCertificateRef] {
        if !looksLikePEM(bytes) {
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
            try checkReadable(path, field: field, what: "private key")
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
            if let engine = library.engine(for: uri) {
                return try loadFromEngine(engine, uri: uri, passphrase: passphrase, field: field)
            }
            let loaded = try loadFromStore(uri: uri, field: field, passphrase: passphrase, expect: .privateKey)
            guard let key = loaded.key else {
                throw TLSError(.configuration, "\(field): no private key found at \(redact(uri))", feature: field)
            }
            return key
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
                    + "(TLSPrivateKey passphrase:, or --key-passphrase-env on the command line)",
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
                        ? "use OpenSSLBackend(providers: [.default, .tpm2()], propertyQuery: \"?tpm2.signature\") "
                            + "(on the command line: --provider default --provider tpm2 --propquery '?tpm2.signature')"
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
        let (uri, pinInURI) = Self.splittingPIN(uri)
        if let pin = pinInURI ?? passphrase.secret.map({ $0.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }) {
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

    /// Removes `pin-value=…` (path `;` or query `?`/`&` attribute) from a PKCS#11 URI.
    static func splittingPIN(_ uri: String) -> (uri: String, pin: String?) {
        var pin: String?
        func strip(_ part: Substring, separator: Character) -> String {
            part.split(separator: separator, omittingEmptySubsequences: false).filter { item in
                if item.hasPrefix("pin-value=") {
                    pin = String(item.dropFirst("pin-value=".count)).removingPercentEncodingIfPossible
                    return false
                }
                return true
            }.joined(separator: String(separator))
        }
        let halves = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = strip(halves[0], separator: ";")
        guard halves.count == 2 else { return (path, pin) }
        let query = strip(halves[1], separator: "&")
        return (query.isEmpty ? path : path + "?" + query, pin)
    }

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
                        ? "Load the tpm2 provider: OpenSSLBackend(providers: [.default, .tpm2()], propertyQuery: \"?tpm2.signature\") (command line: --provider default --provider tpm2 --propquery '?tpm2.signature')."
                        : scheme == "pkcs11"
                            ? "Load a pkcs11 provider, or use the ENGINE bridge: OpenSSLBackend(engines: [.pkcs11()]) (command line: --engine pkcs11)."
                            : "Load the provider that owns it."),
                feature: field)
        }
        let box: PassphraseBox
        if let passphrase { box = passphrase } else { box = try PassphraseBox(nil, field: field) }
        // OpenSSL holds only an unretained pointer to `box` and may call the PIN callback at any
        // point until the store is closed: keep it alive to the end of this function.
        defer { withExtendedLifetime(box) {} }
        guard let ui = UI_UTIL_wrap_read_pem_callback(passphraseCallback, 0) else {
            throw TLSError(.internal, "UI_UTIL_wrap_read_pem_callback failed")
        }
        defer { UI_destroy_method(ui) }
        ERR_clear_error()
        let unmanaged = Unmanaged.passUnretained(box).toOpaque()
        guard
            let store = OSSL_STORE_open_ex(
                uri, library.pointer, library.propertyQuery, ui, unmanaged, nil, nil, nil)
        else {
            throw TLSError(
                .configuration, "\(field): cannot open \(redact(uri)): the store does not exist or refused access",
                backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: field)
        }
        defer { OSSL_STORE_close(store) }
        var contents = StoreContents()
        while OSSL_STORE_eof(store) == 0 {
            guard let info = OSSL_STORE_load(store) else {
                if OSSL_STORE_error(store) != 0 { break }
                continue
            }
            defer { OSSL_STORE_INFO_free(info) }
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
                    : "\(field): no \(expect == .privateKey ? "private key" : "certificate") found at \(redact(uri))",
                backendErrors: errors.map(\.text), feature: field)
        }
        return contents
    }

    // MARK: Trust stores

    func trustStore(_ store: TLSTrustStore, field: String) throws(TLSError) -> OpenSSLStoreRef {
        guard let x509Store = X509_STORE_new() else { throw TLSError(.internal, "X509_STORE_new failed") }
        let owner = OpenSSLStoreRef(takingOwnership: x509Store)
        ERR_clear_error()
        switch store.source {
        case .system:
            guard X509_STORE_set_default_paths_ex(x509Store, library.pointer, library.propertyQuery) == 1 else {
                throw TLSError(
                    .configuration,
                    "\(field): the system trust store could not be loaded; install ca-certificates "
                        + "or give the roots explicitly",
                    backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: field)
            }
            ERR_clear_error()
        case .pem(let bytes):
            try add(parseCertificates(bytes, origin: "the PEM given in \(field)", field: field), to: x509Store)
        case .der(let list):
            guard !list.isEmpty else {
                throw TLSError.configuration(field: field, "the list of DER roots is empty")
            }
            for (i, der) in list.enumerated() {
                try add([parseDER(der, origin: "DER root #\(i)", field: field)], to: x509Store)
            }
        case .file(let path):
            let bytes = try readFile(path, field: field, what: "trust store")
            try add(parseCertificates(bytes, origin: "the file \(path)", field: field), to: x509Store)
        case .directory(let path):
            var info = stat()
            guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                throw TLSError.configuration(field: field, "the trust directory \(path) does not exist")
            }
            guard X509_STORE_load_path(x509Store, path) == 1 else {
                throw TLSError(
                    .configuration, "\(field): cannot use \(path) as a hashed certificate directory",
                    backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: field)
            }
        case .identifier(let uri):
            let certs = try loadFromStore(uri: uri, field: field, passphrase: nil, expect: .certificate).certificates
            try add(certs, to: x509Store)
        case .pinned:
            preconditionFailure("pinned trust stores hold no roots; OpenSSLContextBuilder.configureTrust handles them")
        }
        return owner
    }

    /// Adds CRLs to a context's store and turns on CRL checking of the leaf.
    func addRevocationLists(_ lists: [TLSRevocationList], to ctx: OpaquePointer, field: String) throws(TLSError) {
        guard !lists.isEmpty, let store = SSL_CTX_get_cert_store(ctx) else { return }
        for (index, list) in lists.enumerated() {
            let origin: String
            let bytes: [UInt8]
            switch list.source {
            case .pem(let b): (origin, bytes) = ("the PEM given in \(field)[\(index)]", b)
            case .der(let b): (origin, bytes) = ("the DER given in \(field)[\(index)]", b)
            case .file(let path): (origin, bytes) = ("the file \(path)", try readFile(path, field: field, what: "CRL"))
            }
            var added = 0
            ERR_clear_error()
            bytes.withUnsafeBytes { raw in
                guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return }
                defer { BIO_free(bio) }
                let pem = String(decoding: raw.prefix(4096), as: UTF8.self).contains("-----BEGIN")
                while true {
                    let crl = pem ? PEM_read_bio_X509_CRL(bio, nil, nil, nil) : d2i_X509_CRL_bio(bio, nil)
                    guard let crl else { break }
                    if X509_STORE_add_crl(store, crl) == 1 { added += 1 }
                    X509_CRL_free(crl)
                    if !pem { break }
                }
            }
            ERR_clear_error()
            guard added > 0 else {
                throw TLSError.configuration(field: field, "no CRL could be read from \(origin) (it must hold -----BEGIN X509 CRL----- blocks or one DER CRL)")
            }
        }
        _ = X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK))
    }

    private func add(_ certificates: [OpenSSLCertificateRef], to store: OpaquePointer) throws(TLSError) {
        for cert in certificates where X509_STORE_add_cert(store, cert.pointer) != 1 {
            let entries = OpenSSLErrorStack.drain()
            // Adding the same root twice is harmless.
            if entries.allSatisfy({ $0.reason == X509_R_CERT_ALREADY_IN_HASH_TABLE }) { continue }
            throw TLSError(.internal, "X509_STORE_add_cert failed", backendErrors: entries.map(\.text))
        }
    }

    // MARK: Files

    func checkReadable(_ path: String, field: String, what: String) throws(TLSError) {
        try TLSCredentialFiles.checkReadable(path, field: field, what: what)
    }

    func readFile(_ path: String, field: String, what: String) throws(TLSError) -> [UInt8] {
        try checkReadable(path, field: field, what: what)
        guard let file = fopen(path, "rb") else {
            throw TLSError.configuration(field: field, "cannot open the \(what) file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count { break }
            if bytes.count > 16 << 20 {
                throw TLSError.configuration(field: field, "the \(what) file \(path) is larger than 16 MiB")
            }
        }
        if bytes.isEmpty { throw TLSError.configuration(field: field, "the \(what) file \(path) is empty") }
        return bytes
    }

    private func looksLikePEM(_ bytes: [UInt8]) -> Bool {
        let marker = Array("-----BEGIN".utf8)
        guard bytes.count >= marker.count else { return false }
        for start in 0...(bytes.count - marker.count) where bytes[start] == marker[0] {
            if Array(bytes[start..<start + marker.count]) == marker { return true }
        }
        return false
    }

    private func redact(_ uri: String) -> String { TLSRedaction.redactingPIN(uri) }

}

// MARK: - Passphrases

/// Holds a passphrase for the duration of one load, and records whether OpenSSL asked.
final class PassphraseBox {
    let secret: TLSSecureBytes?
    var wasAsked = false
    var hasPassphrase: Bool { secret != nil }

    init(_ source: TLSPassphrase?, field: String) throws(TLSError) {
        switch source {
        case nil:
            secret = nil
        case .bytes(let bytes)?:
            secret = bytes
        case .environment(let name)?:
            guard let value = TLSEnvironment.secret(name) else {
                throw TLSError.configuration(
                    field: field, "the passphrase environment variable \(name) is not set")
            }
            secret = value
        }
    }
}

/// `pem_password_cb`: copies the passphrase from the `PassphraseBox` passed as `userdata`.
/// Returns -1 (no passphrase) instead of letting OpenSSL prompt on a terminal.
private let passphraseCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = {
    buffer, size, _, userdata in
    guard let buffer, let userdata else { return -1 }
    let box = Unmanaged<PassphraseBox>.fromOpaque(userdata).takeUnretainedValue()
    box.wasAsked = true
    guard let secret = box.secret, secret.count <= Int(size) else { return -1 }
    return secret.withUnsafeBytes { raw in
        if let base = raw.baseAddress { memcpy(buffer, base, raw.count) }
        return Int32(raw.count)
    }
}


extension OpenSSLBackend {
    /// Asks OpenSSL to serialise the private key that `key` resolves to (`i2d_PrivateKey`).
    ///
    /// For tests that prove a key held in a TPM or on a token cannot leave it: whatever
    /// comes back (nothing, a TPM blob, a key object without its secret) must not be a
    /// private key that matches the certificate. Not public API: TLSKit never exports keys.
    func exportedPrivateKeyForTesting(_ key: TLSPrivateKey) throws(TLSError) -> [UInt8]? {
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
                    + (scheme == "pkcs11" ? "use the GnuTLS backend (--backend gnutls), which lists tokens natively" : "load the provider that owns it"),
                feature: "store")
        }
        guard let ui = UI_UTIL_wrap_read_pem_callback(passphraseCallback, 0) else {
            throw TLSError(.internal, "UI_UTIL_wrap_read_pem_callback failed")
        }
        defer { UI_destroy_method(ui) }
        ERR_clear_error()
        guard let store = OSSL_STORE_open_ex(uri, library.pointer, library.propertyQuery, ui,
                                             Unmanaged.passUnretained(passphrase).toOpaque(), nil, nil, nil)
        else {
            throw TLSError(.configuration, "cannot open the store \(redact(uri))", backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: "store")
        }
        defer { OSSL_STORE_close(store) }
        var objects: [TLSStoreObject] = []
        while OSSL_STORE_eof(store) == 0 {
            guard let info = OSSL_STORE_load(store) else {
                if OSSL_STORE_error(store) != 0 { break }
                continue
            }
            defer { OSSL_STORE_INFO_free(info) }
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
