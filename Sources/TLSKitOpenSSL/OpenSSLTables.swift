internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit

/// The IANA code ↔ OpenSSL name table, built once from the library itself.
///
/// Anonymous (aNULL), NULL-encryption (eNULL), PSK and SRP suites are kept apart in
/// ``refused``: they are never in ``names``, so no cipher string TLSKit builds from the
/// table can name them, ``supported`` (the capabilities) does not list them, and a
/// configuration naming one is refused with the reason.
final class OpenSSLCipherTable: Sendable {
    static let shared = OpenSSLCipherTable()

    /// The suites TLSKit may offer, by IANA code.
    let names: [UInt16: String]
    /// The suites OpenSSL implements that TLSKit never offers or accepts: their IANA
    /// standard name (or OpenSSL name) and why.
    let refused: [UInt16: (name: String, refusal: TLSCipherSuiteRefusal)]
    let supported: [TLSCipherSuite]

    /// What every TLS 1.2 cipher string set on an SSL_CTX ends with, so that no rule
    /// before it (DEFAULT, ALL, a level-0 security setting) can bring such suites back.
    static let exclusions = ":!aNULL:!eNULL:!PSK:!SRP"

    private init() {
        var names: [UInt16: String] = [
            0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
            0x1303: "TLS_CHACHA20_POLY1305_SHA256", 0x1304: "TLS_AES_128_CCM_SHA256",
            0x1305: "TLS_AES_128_CCM_8_SHA256",
        ]
        var refused: [UInt16: (name: String, refusal: TLSCipherSuiteRefusal)] = [:]
        if let ctx = SSL_CTX_new(TLS_method()) {
            if SSL_CTX_set_cipher_list(ctx, "ALL:COMPLEMENTOFALL:@SECLEVEL=0") == 1,
                let stack = SSL_CTX_get_ciphers(ctx)
            {
                for i in 0..<OPENSSL_sk_num(stack) {
                    guard let raw = OPENSSL_sk_value(stack, i) else { continue }
                    let cipher = OpaquePointer(raw)
                    let code = SSL_CIPHER_get_protocol_id(cipher)
                    if code >> 8 == 0x13 { continue }
                    guard let name = SSL_CIPHER_get_name(cipher).map({ String(cString: $0) }) else { continue }
                    if let refusal = Self.refusal(cipher) {
                        refused[code] = (SSL_CIPHER_standard_name(cipher).map { String(cString: $0) } ?? name, refusal)
                    } else {
                        names[code] = name
                    }
                }
            }
            SSL_CTX_free(ctx)
        }
        ERR_clear_error()
        self.names = names
        self.refused = refused
        self.supported = names.keys.sorted().map { TLSCipherSuite(rawValue: $0) }
    }

    /// Classifies a suite by its authentication, key exchange and cipher.
    private static func refusal(_ cipher: OpaquePointer) -> TLSCipherSuiteRefusal? {
        let auth = SSL_CIPHER_get_auth_nid(cipher)
        let kx = SSL_CIPHER_get_kx_nid(cipher)
        if auth == NID_auth_null { return .anonymous }
        if SSL_CIPHER_get_cipher_nid(cipher) == NID_undef { return .nullEncryption }
        if auth == NID_auth_psk || [NID_kx_psk, NID_kx_ecdhe_psk, NID_kx_dhe_psk, NID_kx_rsa_psk].contains(kx) {
            return .preSharedKey
        }
        if auth == NID_auth_srp || kx == NID_kx_srp { return .secureRemotePassword }
        return nil
    }

    func name(for suite: TLSCipherSuite) -> String? { names[suite.rawValue] }

    /// The error for a suite TLSKit refuses, or `nil` if it may be used.
    func refusalError(for suite: TLSCipherSuite) -> TLSError? {
        guard let entry = refused[suite.rawValue] else { return nil }
        return entry.refusal.error(for: suite, backendName: entry.name)
    }
}

/// IANA group ↔ OpenSSL group name and NID.
enum OpenSSLGroups {
    static let table: [(group: TLSNamedGroup, name: String, nid: Int32)] = [
        (.x25519, "X25519", NID_X25519),
        (.secp256r1, "P-256", NID_X9_62_prime256v1),
        (.x448, "X448", NID_X448),
        (.secp521r1, "P-521", NID_secp521r1),
        (.secp384r1, "P-384", NID_secp384r1),
        (.ffdhe2048, "ffdhe2048", NID_ffdhe2048),
        (.ffdhe3072, "ffdhe3072", NID_ffdhe3072),
        (.ffdhe4096, "ffdhe4096", NID_ffdhe4096),
    ]
    static var supported: [TLSNamedGroup] { table.map(\.group) }
    static func name(for group: TLSNamedGroup) -> String? { table.first { $0.group == group }?.name }
    static func group(forNID nid: Int32) -> TLSNamedGroup? { table.first { $0.nid == nid }?.group }
}
