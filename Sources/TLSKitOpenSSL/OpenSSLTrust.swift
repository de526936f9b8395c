internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension OpenSSLCredentialLoader {
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
            let bytes = try TLSCredentialFiles.read(path, field: field, what: "trust store")
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
            let (bytes, origin, pem) = try list.load(field: field, index: index)
            var added = 0
            ERR_clear_error()
            bytes.withUnsafeBytes { raw in
                guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return }
                defer { BIO_free(bio) }
                while true {
                    let crl = pem ? PEM_read_bio_X509_CRL(bio, nil, nil, nil) : d2i_X509_CRL_bio(bio, nil)
                    guard let crl else { break }
                    if X509_STORE_add_crl(store, crl) == 1 { added += 1 }
                    X509_CRL_free(crl)
                    if !pem { break }
                }
            }
            ERR_clear_error()
            guard added > 0 else { throw .unreadableRevocationList(field: field, origin: origin) }
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
}
