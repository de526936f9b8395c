internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
import TLSKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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
            let bytes = try TLSCredentialFiles.read(path, field: field, what: "trust store")
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
            let (bytes, origin, pem) = try list.load(field: field, index: index)
            let count = Self.withDatum(bytes) { gnutls_certificate_set_x509_crl_mem(pointer, $0, pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER) }
            guard count > 0 else { throw .unreadableRevocationList(field: field, origin: origin) }
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
        // GnuTLS compares only the key type of a key it cannot read; a signer's is checked here.
        if case .signer(let signer) = chain.privateKey.source, let leafKey = pcerts.pointee.pubkey,
            !GnuTLSSigner.matches(signer, certificateKey: leafKey)
        {
            gnutls_privkey_deinit(key)
            throw TLSError(
                .configuration,
                "\(field): the public key of \(signer) is not the certificate's; give the certificate issued for the "
                    + "signer's key", feature: "\(field).privateKey")
        }
        let status = gnutls_certificate_set_key(pointer, nil, 0, pcerts, Int32(der.count), key)
        // GnuTLS's key/certificate check signs once with the key; a signer's failure there is
        // not this thread's next handshake's (GnuTLSFailure reads the last one).
        if case .signer = chain.privateKey.source { _ = GnuTLSSigner.takeFailure() }
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
            return try parse(TLSCredentialFiles.read(path, field: field, what: "certificate"), origin: "the file \(path)", field: field)
        case .identifier(let uri):
            if let path = TLSCredentialFiles.path(fromFileURI: uri) {
                return try parse(TLSCredentialFiles.read(path, field: field, what: "certificate"), origin: "the file \(path)", field: field)
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
        let status = TLSTokenSerialisation.locked { gnutls_x509_crt_import_url(cert, uri, 0) }
        guard status == GNUTLS_E_SUCCESS else {
            throw TLSError(
                .configuration, "\(field): no certificate found at \(TLSRedaction.redactingPIN(uri)): \(String(cString: gnutls_strerror(status)))",
                feature: field)
        }
        return der(of: cert)
    }
}
