internal import CTLSKitGnuTLS
import TLSKit

#if canImport(Glibc)
import Glibc
#endif

/// What `.systemDefault` starts from on GnuTLS: the system's `@SYSTEM` priority where the
/// system priority file defines one, else `NORMAL`.
///
/// GnuTLS 3.7 reads its system priority file (`GNUTLS_SYSTEM_PRIORITY_FILE`, else
/// `/etc/gnutls/config`, section `[priorities]`, a `SYSTEM = …` line) when the library is
/// initialised, which is when the process loads it; the variable cannot be changed later in
/// the process (the file's contents are re-read when it changes). Where `SYSTEM` is not
/// defined, `gnutls_priority_init("@SYSTEM")` fails with a syntax error at `@SYSTEM`, and
/// GnuTLS cannot say whether it was undefined or defined but broken: TLSKit reads the file
/// to tell, and refuses a broken one rather than fall back (fail closed).
struct GnuTLSSystemPriority {
    /// `@SYSTEM` or `NORMAL`.
    var keyword: String
    /// The versions `@SYSTEM` enables; `nil` for `NORMAL`.
    var versions: Set<TLSProtocolVersion>?
    /// The priority file consulted.
    var path: String

    static let defaultPath = "/etc/gnutls/config"

    static func resolve() throws(TLSError) -> GnuTLSSystemPriority {
        let path =
            TLSEnvironment.secret("GNUTLS_SYSTEM_PRIORITY_FILE")
            .map { $0.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
            .flatMap { $0.isEmpty ? nil : $0 } ?? defaultPath
        var cache: gnutls_priority_t?
        let status = gnutls_priority_init(&cache, "@SYSTEM", nil)
        defer { if let cache { gnutls_priority_deinit(cache) } }
        if status == GNUTLS_E_SUCCESS, let cache {
            var list: UnsafePointer<UInt32>?
            let count = gnutls_priority_protocol_list(cache, &list)
            let names: [UInt32: TLSProtocolVersion] = [
                UInt32(GNUTLS_TLS1_0.rawValue): .tls1_0, UInt32(GNUTLS_TLS1_1.rawValue): .tls1_1,
                UInt32(GNUTLS_TLS1_2.rawValue): .tls1_2, UInt32(GNUTLS_TLS1_3.rawValue): .tls1_3,
            ]
            var versions = Set<TLSProtocolVersion>()
            if count > 0, let list {
                for i in 0..<Int(count) { if let v = names[list[i]] { versions.insert(v) } }
            }
            return GnuTLSSystemPriority(keyword: "@SYSTEM", versions: versions, path: path)
        }
        if definesSystem(path) {
            throw TLSError(
                .configuration,
                "securityPolicy .systemDefault: the system priority file \(path) defines SYSTEM, but GnuTLS refuses it "
                    + "(\(String(cString: gnutls_strerror(status)))); fix its SYSTEM line, or use the .modern or "
                    + ".compatible policy, which do not follow it",
                feature: "securityPolicy")
        }
        return GnuTLSSystemPriority(keyword: "NORMAL", versions: nil, path: path)
    }

    /// Whether the priority file has a `SYSTEM =` line in its `[priorities]` section (or, in
    /// the old format without sections, anywhere).
    static func definesSystem(_ path: String) -> Bool {
        guard let file = fopen(path, "r") else { return false }
        defer { fclose(file) }
        var section: String?
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line).trimmingSpaces
            if text.hasPrefix("[") {
                section = String(text.dropFirst().prefix { $0 != "]" }).trimmingSpaces.lowercased()
                continue
            }
            guard section == nil || section == "priorities", let equals = text.firstIndex(of: "=") else { continue }
            if text[..<equals].trimmingSpaces == "SYSTEM" { return true }
        }
        return false
    }
}

extension StringProtocol {
    fileprivate var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
