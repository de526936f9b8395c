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
            let why = code == ENOENT ? "does not exist" : code == EACCES ? "is not readable (permission denied)"
                : String(cString: strerror(code))
            throw TLSError.configuration(field: field, "the \(what) file \(path) \(why)")
        }
        var info = stat()
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            throw TLSError.configuration(field: field, "the \(what) path \(path) is a directory, not a file")
        }
    }
}
