#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What backends check before they read a credential file, so that a missing or
/// unreadable file is reported the same way by every backend. `package`: not public API.
package enum TLSCredentialFiles {
    /// Throws a configuration error naming the file and the problem unless `path` is a
    /// readable regular file.
    package static func checkReadable(_ path: String, field: String, what: String) throws(TLSError) {
        if access(path, R_OK) != 0 {
            let code = errno
            let why =
                code == ENOENT
                ? "does not exist"
                : code == EACCES
                    ? "is not readable (permission denied)"
                    : String(cString: strerror(code))
            throw TLSError.configuration(field: field, "the \(what) file \(path) \(why)")
        }
        var info = stat()
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            throw TLSError.configuration(field: field, "the \(what) path \(path) is a directory, not a file")
        }
    }
}

extension TLSCredentialFiles {
    /// The largest credential file a backend reads (certificate chains, trust bundles, CRLs).
    package static let maximumSize = 16 << 20

    /// Reads a whole credential file, after ``checkReadable(_:field:what:)``. Refuses an
    /// empty file and one over ``maximumSize``, naming the file.
    package static func read(_ path: String, field: String, what: String) throws(TLSError) -> [UInt8] {
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
            if bytes.count > maximumSize {
                throw TLSError.configuration(field: field, "the \(what) file \(path) is larger than 16 MiB")
            }
            if n < chunk.count { break }
        }
        if bytes.isEmpty { throw TLSError.configuration(field: field, "the \(what) file \(path) is empty") }
        return bytes
    }

    /// The path of a local `file:` URI (RFC 8089: `file:/p`, `file:///p`,
    /// `file://localhost/p`), percent-decoded; `nil` for anything else, a remote host included.
    package static func path(fromFileURI uri: String) -> String? {
        guard uri.hasPrefix("file:") else { return nil }
        var rest = String(uri.dropFirst(5))
        if rest.hasPrefix("//") {
            rest.removeFirst(2)
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            let host = rest[..<slash]
            guard host.isEmpty || host == "localhost" else { return nil }
            rest = String(rest[slash...])
        }
        guard rest.hasPrefix("/") else { return nil }
        return rest.removingPercentEncodingIfPossible
    }

    /// Whether `bytes` hold a PEM block (`-----BEGIN` anywhere in them).
    package static func looksLikePEM(_ bytes: some Collection<UInt8>) -> Bool {
        let marker = Array("-----BEGIN".utf8)
        let bytes = Array(bytes)
        guard bytes.count >= marker.count else { return false }
        for start in 0...(bytes.count - marker.count) where bytes[start] == marker[0] {
            if bytes[start..<start + marker.count].elementsEqual(marker) { return true }
        }
        return false
    }
}

extension TLSRevocationList {
    /// The CRL bytes, where they came from (for messages) and whether they are PEM. Reads a
    /// file source; `field` and `index` name the list in errors.
    package func load(field: String, index: Int) throws(TLSError) -> (bytes: [UInt8], origin: String, isPEM: Bool) {
        let origin: String
        let bytes: [UInt8]
        switch source {
        case .pem(let b): (origin, bytes) = ("the PEM given in \(field)[\(index)]", b)
        case .der(let b): (origin, bytes) = ("the DER given in \(field)[\(index)]", b)
        case .file(let path): (origin, bytes) = ("the file \(path)", try TLSCredentialFiles.read(path, field: field, what: "CRL"))
        }
        return (bytes, origin, TLSCredentialFiles.looksLikePEM(bytes.prefix(4096)))
    }
}

extension TLSPassphrase {
    /// The passphrase's bytes: given, or read from the environment now. Throws when the
    /// environment variable is not set, naming it.
    package func resolve(field: String) throws(TLSError) -> TLSSecureBytes {
        switch self {
        case .bytes(let bytes):
            return bytes
        case .environment(let name):
            guard let value = TLSEnvironment.secret(name) else {
                throw TLSError.configuration(
                    field: field, "the passphrase environment variable \(name) is not set; export it or give the passphrase as bytes")
            }
            return value
        }
    }
}
