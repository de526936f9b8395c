import TLSKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Small POSIX helpers for the socket adapters. Every failure becomes a `TLSError` with
/// the system's own text.
enum POSIX {
    #if canImport(Glibc)
    static let streamType = Int32(SOCK_STREAM.rawValue)
    static let noSignal = Int32(MSG_NOSIGNAL)
    #else
    static let streamType = SOCK_STREAM
    static let noSignal: Int32 = 0
    #endif

    static func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    static func ioError(_ what: String, _ code: Int32 = errno) -> TLSError {
        if code == EAGAIN || code == EWOULDBLOCK {
            return TLSError(.timeout, "\(what) timed out")
        }
        return TLSError(.io, "\(what) failed: \(errorText(code))")
    }

    /// Resolves host and port into socket addresses (IPv4 and IPv6).
    static func resolve(host: String, port: UInt16, passive: Bool) throws(TLSError) -> [(family: Int32, address: [UInt8])] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = streamType
        hints.ai_flags = passive ? AI_PASSIVE : 0
        var list: UnsafeMutablePointer<addrinfo>?
        let host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let status = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw TLSError(.io, "cannot resolve '\(host)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }
        var result: [(Int32, [UInt8])] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let address = entry.pointee.ai_addr {
                let bytes = Array(UnsafeRawBufferPointer(start: address, count: Int(entry.pointee.ai_addrlen)))
                result.append((entry.pointee.ai_family, bytes))
            }
            cursor = entry.pointee.ai_next
        }
        return result
    }

    /// Sets SO_RCVTIMEO and SO_SNDTIMEO (`nil`: no time-out).
    static func setTimeouts(_ fd: Int32, _ timeout: Duration?) {
        var tv = timeval()
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            tv.tv_sec = Int(seconds)
            tv.tv_usec = Int(attoseconds / 1_000_000_000_000)
            if tv.tv_sec == 0 && tv.tv_usec == 0 { tv.tv_usec = 1 }
        }
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Connects with a time-out (non-blocking connect + poll), returning a blocking socket.
    static func connect(family: Int32, address: [UInt8], timeout: Duration?) throws(TLSError) -> Int32 {
        let fd = socket(family, streamType, 0)
        guard fd >= 0 else { throw ioError("socket()") }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        let result = address.withUnsafeBytes { raw in
            Glibc.connect(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        if result != 0 {
            let code = errno
            guard code == EINPROGRESS else {
                Glibc.close(fd)
                throw ioError("connect()", code)
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ms = timeout.map { Int32(clamping: $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000) } ?? -1
            var ready: Int32
            repeat { ready = poll(&pfd, 1, ms) } while ready < 0 && errno == EINTR
            if ready == 0 {
                Glibc.close(fd)
                throw TLSError(.timeout, "connect() timed out after \(timeout!)")
            }
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
            if ready < 0 || soError != 0 {
                Glibc.close(fd)
                throw ioError("connect()", soError != 0 ? soError : errno)
            }
        }
        _ = fcntl(fd, F_SETFL, flags)
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The text form of a socket address.
    static func describe(_ storage: UnsafeRawPointer) -> (host: String, port: UInt16) {
        let family = Int32(storage.load(as: sockaddr.self).sa_family)
        var buffer = [CChar](repeating: 0, count: 64)
        if family == AF_INET6 {
            var v6 = storage.load(as: sockaddr_in6.self)
            inet_ntop(AF_INET6, &v6.sin6_addr, &buffer, 64)
            return (text(buffer), UInt16(bigEndian: v6.sin6_port))
        }
        var v4 = storage.load(as: sockaddr_in.self)
        inet_ntop(AF_INET, &v4.sin_addr, &buffer, 64)
        return (text(buffer), UInt16(bigEndian: v4.sin_port))
    }
}
