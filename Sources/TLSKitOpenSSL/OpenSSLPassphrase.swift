internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// MARK: - Passphrases

/// Holds a passphrase for the duration of one load, and records whether OpenSSL asked.
final class PassphraseBox {
    let secret: TLSSecureBytes?
    var wasAsked = false
    var hasPassphrase: Bool { secret != nil }

    init(_ source: TLSPassphrase?, field: String) throws(TLSError) {
        secret = try source?.resolve(field: field)
    }
}

/// `pem_password_cb`: copies the passphrase from the `PassphraseBox` passed as `userdata`.
/// Returns -1 (no passphrase) instead of letting OpenSSL prompt on a terminal.
let passphraseCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = {
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
