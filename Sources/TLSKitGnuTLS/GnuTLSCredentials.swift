#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
public import TLSKit

/// Owns one `gnutls_certificate_credentials_t` (trust store and own chains).
final class GnuTLSCredentials: @unchecked Sendable {
    // @unchecked: filled in completely by the context's init, then only read; GnuTLS
    // credentials may be shared by sessions on several threads once set up.
    let pointer: gnutls_certificate_credentials_t
    /// PIN storage that token-held keys may call back into for as long as they live.
    private var retained: [AnyObject] = []

    init() throws(TLSError) {
        var credentials: gnutls_certificate_credentials_t?
        let status = gnutls_certificate_allocate_credentials(&credentials)
        guard status == GNUTLS_E_SUCCESS, let credentials else {
            throw GnuTLSFailure.internalError("gnutls_certificate_allocate_credentials", status)
        }
        pointer = credentials
    }

    deinit { gnutls_certificate_free_credentials(pointer) }

    // MARK: Trust

    func addTrust(_ store: TLSTrustStore, field: String) throws(TLSError) {
        let count: Int32
        switch store.source {
        case .system:
            count = gnutls_certificate_set_x509_system_trust(pointer)
            if count <= 0 {
                throw TLSError(
                    .configuration,
                    "\(field): GnuTLS found no system trust store (\(count < 0 ? String(cString: gnutls_strerror(count)) : "0 roots")); "
                        + "install ca-certificates or give the roots explicitly", feature: field)
            }
            return
        case .pem(let bytes):
            count = Self.withDatum(bytes) { gnutls_certificate_set_x509_trust_mem(pointer, $0, GNUTLS_X509_FMT_PEM) }
            try Self.checkTrustCount(count, origin: "the PEM given in \(field)", field: field, bytes: bytes)
        case .der(let list):
            guard !list.isEmpty else { throw TLSError.configuration(field: field, "the list of DER roots is empty") }
            for (i, der) in list.enumerated() {
                let n = Self.withDatum(der) { gnutls_certificate_set_x509_trust_mem(pointer, $0, GNUTLS_X509_FMT_DER) }
                try Self.checkTrustCount(n, origin: "DER root #\(i)", field: field, bytes: der)
            }
        case .file(let path):
            let bytes = try GnuTLSFiles.read(path, field: field, what: "trust store")
            count = Self.withDatum(bytes) { gnutls_certificate_set_x509_trust_mem(pointer, $0, GNUTLS_X509_FMT_PEM) }
            try Self.checkTrustCount(count, origin: "the file \(path)", field: field, bytes: bytes)
        case .directory(let path):
            var info = stat()
            guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                throw TLSError.configuration(field: field, "the trust directory \(path) does not exist")
            }
            count = gnutls_certificate_set_x509_trust_dir(pointer, path, GNUTLS_X509_FMT_PEM)
            try Self.checkTrustCount(count, origin: "the directory \(path)", field: field, bytes: [])
        case .identifier(let uri):
            count = gnutls_certificate_set_x509_trust_file(pointer, uri, GNUTLS_X509_FMT_PEM)
            try Self.checkTrustCount(count, origin: TLSRedaction.redactingPIN(uri), field: field, bytes: [])
        case .pinned:
            preconditionFailure("pinned trust stores hold no roots; GnuTLSTrust.pins handles them")
        }
    }

    func addRevocationLists(_ lists: [TLSRevocationList], field: String) throws(TLSError) {
        for (index, list) in lists.enumerated() {
            let origin: String
            let bytes: [UInt8]
            switch list.source {
            case .pem(let b): (origin, bytes) = ("the PEM given in \(field)[\(index)]", b)
            case .der(let b): (origin, bytes) = ("the DER given in \(field)[\(index)]", b)
            case .file(let path): (origin, bytes) = ("the file \(path)", try GnuTLSFiles.read(path, field: field, what: "CRL"))
            }
            let pem = String(decoding: bytes.prefix(4096), as: UTF8.self).contains("-----BEGIN")
            let count = Self.withDatum(bytes) { gnutls_certificate_set_x509_crl_mem(pointer, $0, pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER) }
            guard count > 0 else {
                throw TLSError.configuration(field: field, "no CRL could be read from \(origin) (it must hold -----BEGIN X509 CRL----- blocks or one DER CRL)")
            }
        }
    }

    private static func checkTrustCount(_ count: Int32, origin: String, field: String, bytes: [UInt8]) throws(TLSError) {
        if count > 0 { return }
        let why = count < 0 ? String(cString: gnutls_strerror(count)) : "no certificates found"
        var hint = "it must hold PEM certificates (-----BEGIN CERTIFICATE-----)"
        let text = String(decoding: bytes, as: UTF8.self)
        if text.contains("PRIVATE KEY-----") && !text.contains("CERTIFICATE-----") {
            hint = "it holds a private key, not certificates"
        } else if text.contains("-----BEGIN CERTIFICATE-----") {
            hint = "the PEM block is damaged (bad base64 or a truncated certificate)"
        }
        throw TLSError(.configuration, "\(field): no trusted certificate could be read from \(origin) (\(why)): \(hint)", feature: field)
    }

    // MARK: Own chains

    /// Loads a signing chain (leaf, intermediates, key) into the credentials; GnuTLS then
    /// picks among the chains by SNI.
    @discardableResult
    func addChain(_ chain: TLSSigningChain, field: String) throws(TLSError) -> GnuTLSLeaf {
        var der: [[UInt8]] = try GnuTLSCertificates.load(chain.certificate, field: "\(field).certificate")
        for (i, extra) in chain.intermediates.enumerated() {
            der += try GnuTLSCertificates.load(extra, field: "\(field).intermediates[\(i)]")
        }
        let (key, pin) = try GnuTLSKeys.load(chain.privateKey, field: "\(field).privateKey")
        if let pin { retained.append(pin) }
        let pcerts = UnsafeMutablePointer<gnutls_pcert_st>.allocate(capacity: der.count)
        var imported = 0
        defer {
            if imported >= 0 {  // not handed over: free what was imported
                for i in 0..<imported { gnutls_pcert_deinit(pcerts + i) }
                pcerts.deallocate()
            }
        }
        for (i, cert) in der.enumerated() {
            let status = Self.withDatum(cert) { gnutls_pcert_import_x509_raw(pcerts + i, $0, GNUTLS_X509_FMT_DER, 0) }
            guard status == GNUTLS_E_SUCCESS else {
                gnutls_privkey_deinit(key)
                throw TLSError(
                    .configuration, "\(field): GnuTLS refused certificate #\(i): \(String(cString: gnutls_strerror(status)))",
                    feature: "\(field).certificate")
            }
            imported += 1
        }
        let status = gnutls_certificate_set_key(pointer, nil, 0, pcerts, Int32(der.count), key)
        guard status == GNUTLS_E_SUCCESS else {
            gnutls_privkey_deinit(key)
            if status == GNUTLS_E_CERTIFICATE_KEY_MISMATCH {
                throw TLSError(
                    .configuration,
                    "\(field): the private key does not match the certificate; check that the key and "
                        + "certificate files belong together", feature: "\(field).privateKey")
            }
            throw TLSError(
                .configuration, "\(field): GnuTLS refused the chain: \(String(cString: gnutls_strerror(status)))",
                feature: field)
        }
        // The credentials own the certificates and the key now; only our array goes.
        pcerts.deallocate()
        imported = -1
        return try GnuTLSLeaf(der: der[0])
    }

    static func withDatum<R>(_ bytes: [UInt8], _ body: (UnsafePointer<gnutls_datum_t>) -> R) -> R {
        bytes.withUnsafeBufferPointer { buffer in
            var datum = gnutls_datum_t(
                data: UnsafeMutablePointer(mutating: buffer.baseAddress), size: UInt32(buffer.count))
            return body(&datum)
        }
    }
}

/// A parsed leaf certificate, kept to match SNI names against.
final class GnuTLSLeaf: @unchecked Sendable {
    // @unchecked: parsed once, then only read.
    let certificate: gnutls_x509_crt_t

    init(der: [UInt8]) throws(TLSError) {
        var cert: gnutls_x509_crt_t?
        gnutls_x509_crt_init(&cert)
        guard let cert else { throw GnuTLSFailure.internalError("gnutls_x509_crt_init", 0) }
        let status = GnuTLSCredentials.withDatum(der) { gnutls_x509_crt_import(cert, $0, GNUTLS_X509_FMT_DER) }
        guard status == GNUTLS_E_SUCCESS else {
            gnutls_x509_crt_deinit(cert)
            throw GnuTLSFailure.internalError("gnutls_x509_crt_import", status)
        }
        certificate = cert
    }

    deinit { gnutls_x509_crt_deinit(certificate) }

    /// Whether the certificate is valid for `name` (wildcards allowed, no IP matches).
    func matches(_ name: String) -> Bool {
        gnutls_x509_crt_check_hostname2(certificate, name, GNUTLS_VERIFY_DO_NOT_ALLOW_IP_MATCHES.rawValue) != 0
    }
}

/// Certificates: PEM (one or more) or DER (one), from bytes, files or URIs, as DER.
enum GnuTLSCertificates {
    static func load(_ certificate: TLSCertificate, field: String) throws(TLSError) -> [[UInt8]] {
        switch certificate.source {
        case .pem(let bytes): return try parse(bytes, origin: "the PEM given in \(field)", field: field)
        case .der(let bytes): return try parse(bytes, origin: "the DER given in \(field)", field: field)
        case .file(let path):
            return try parse(GnuTLSFiles.read(path, field: field, what: "certificate"), origin: "the file \(path)", field: field)
        case .identifier(let uri):
            if let path = GnuTLSFiles.path(fromFileURI: uri) {
                return try parse(GnuTLSFiles.read(path, field: field, what: "certificate"), origin: "the file \(path)", field: field)
            }
            return [try fromURL(uri, field: field)]
        }
    }

    static func parse(_ bytes: [UInt8], origin: String, field: String) throws(TLSError) -> [[UInt8]] {
        let pem = String(decoding: bytes.prefix(65_536), as: UTF8.self).contains("-----BEGIN")
        var list: UnsafeMutablePointer<gnutls_x509_crt_t?>?
        var count: UInt32 = 0
        let status = GnuTLSCredentials.withDatum(bytes) {
            gnutls_x509_crt_list_import2(&list, &count, $0, pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, 0)
        }
        guard status == GNUTLS_E_SUCCESS, let list, count > 0 else {
            throw .unreadableCertificate(
                field: field, origin: origin, bytes: bytes, backendErrors: [String(cString: gnutls_strerror(status))])
        }
        defer {
            for i in 0..<Int(count) { gnutls_x509_crt_deinit(list[i]) }
            CTLSKitGnuTLSShims_gnutls_free(list)
        }
        var result: [[UInt8]] = []
        for i in 0..<Int(count) {
            guard let cert = list[i] else { continue }
            result.append(der(of: cert))
        }
        return result
    }

    static func der(of cert: gnutls_x509_crt_t) -> [UInt8] {
        var datum = gnutls_datum_t()
        guard gnutls_x509_crt_export2(cert, GNUTLS_X509_FMT_DER, &datum) == GNUTLS_E_SUCCESS, let data = datum.data else {
            return []
        }
        defer { CTLSKitGnuTLSShims_gnutls_free(data) }
        return Array(UnsafeBufferPointer(start: data, count: Int(datum.size)))
    }

    static func fromURL(_ uri: String, field: String) throws(TLSError) -> [UInt8] {
        guard gnutls_url_is_supported(uri) != 0 else {
            throw TLSError(
                .configuration,
                "\(field): GnuTLS does not understand the URI scheme of \(TLSCertificate.identifier(uri).description) "
                    + "(it supports pkcs11: URIs through p11-kit)", feature: field)
        }
        var cert: gnutls_x509_crt_t?
        gnutls_x509_crt_init(&cert)
        guard let cert else { throw GnuTLSFailure.internalError("gnutls_x509_crt_init", 0) }
        defer { gnutls_x509_crt_deinit(cert) }
        let status = gnutls_x509_crt_import_url(cert, uri, 0)
        guard status == GNUTLS_E_SUCCESS else {
            throw TLSError(
                .configuration, "\(field): no certificate found at \(TLSRedaction.redactingPIN(uri)): \(String(cString: gnutls_strerror(status)))",
                feature: field)
        }
        return der(of: cert)
    }
}

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
                if let path = GnuTLSFiles.path(fromFileURI: uri) {
                    try loadFile(privkey, path, passphrase: passphrase, field: field)
                } else {
                    try importURL(privkey, uri, passphrase: passphrase, field: field)
                    pinStorage = passphrase
                }
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
        try GnuTLSFiles.checkReadable(path, field: field, what: "private key")
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
                    + "(TLSPrivateKey passphrase:, or --key-passphrase-env on the command line)")
        }
        var datum = gnutls_datum_t(
            data: UnsafeMutablePointer(mutating: raw.baseAddress?.assumingMemoryBound(to: UInt8.self)), size: UInt32(raw.count))
        let status = gnutls_privkey_import_x509_raw(key, &datum, isPEM ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, passphrase?.pointer, 0)
        guard status == GNUTLS_E_SUCCESS else {
            let reason = String(cString: gnutls_strerror(status))
            if encrypted || status == GNUTLS_E_DECRYPTION_FAILED {
                throw TLSError(.configuration, "\(field): the passphrase for the private key in \(origin) is wrong",
                               backendErrors: [reason], feature: field)
            }
            if text.contains("CERTIFICATE-----") && !text.contains("PRIVATE KEY-----") {
                throw TLSError(.configuration, "\(field): \(origin) holds a certificate, not a private key: were the certificate and key swapped?",
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
        let status = gnutls_privkey_import_url(key, uri, 0)
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
        switch source {
        case nil: return nil
        case .bytes(let bytes)?: return bytes.withUnsafeBytes { SecretCString($0) }
        case .environment(let name)?:
            guard let value = TLSEnvironment.secret(name) else {
                throw TLSError.configuration(field: field, "the passphrase environment variable \(name) is not set")
            }
            return value.withUnsafeBytes { SecretCString($0) }
        }
    }
}

/// `gnutls_pin_callback_t`: hands the PIN from the `SecretCString` in `userdata` to GnuTLS,
/// once: a second attempt means the PIN was wrong, and retrying would lock the token.
private let pinCallback: @convention(c) (
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

/// Reading credential files with errors that name the file and the problem.
enum GnuTLSFiles {
    /// The path of a `file:` URI (RFC 8089: `file:/p`, `file:///p`), or `nil`.
    static func path(fromFileURI uri: String) -> String? {
        guard uri.hasPrefix("file:") else { return nil }
        var rest = String(uri.dropFirst(5))
        if rest.hasPrefix("//") {
            rest.removeFirst(2)
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            let host = rest[..<slash]
            guard host.isEmpty || host == "localhost" else { return nil }
            rest = String(rest[slash...])
        }
        return rest.removingPercentEncodingIfPossible
    }

    static func checkReadable(_ path: String, field: String, what: String) throws(TLSError) {
        try TLSCredentialFiles.checkReadable(path, field: field, what: what)
    }

    static func read(_ path: String, field: String, what: String) throws(TLSError) -> [UInt8] {
        try checkReadable(path, field: field, what: what)
        var datum = gnutls_datum_t()
        let status = gnutls_load_file(path, &datum)
        guard status == GNUTLS_E_SUCCESS, let data = datum.data else {
            throw TLSError.configuration(field: field, "cannot read the \(what) file \(path): \(String(cString: gnutls_strerror(status)))")
        }
        defer { CTLSKitGnuTLSShims_gnutls_free(data) }
        if datum.size == 0 { throw TLSError.configuration(field: field, "the \(what) file \(path) is empty") }
        return Array(UnsafeBufferPointer(start: data, count: Int(datum.size)))
    }
}


extension GnuTLSBackend: TLSKeyStoreBrowsing {
    /// Lists a PKCS#11 token (or a part of it) through p11-kit, with each object's URI.
    /// With a PIN, private objects are listed too.
    public func listObjects(in identifier: String, passphrase: TLSPassphrase?) throws(TLSError) -> [TLSStoreObject] {
        guard identifier.hasPrefix("pkcs11:") else {
            throw TLSError.configuration(field: "store", "GnuTLS lists pkcs11: stores only, not \(TLSRedaction.redactingPIN(identifier))")
        }
        var url = identifier
        if let passphrase, case .bytes(let pin) = passphrase, !identifier.contains("pin-value=") {
            let text = pin.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            url += (identifier.contains("?") ? "&" : "?") + "pin-value=" + text
        }
        var list: UnsafeMutablePointer<gnutls_pkcs11_obj_t?>?
        var count: UInt32 = 0
        let flags = passphrase != nil || identifier.contains("pin-value=") ? GNUTLS_PKCS11_OBJ_FLAG_LOGIN.rawValue : 0
        let status = gnutls_pkcs11_obj_list_import_url4(&list, &count, url, flags)
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
