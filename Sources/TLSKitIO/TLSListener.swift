import Synchronization
public import TLSKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A listening TCP socket that accepts TLS connections for a server context.
///
/// Thread-safety: `Sendable`. ``accept()`` may be called from several threads (the kernel
/// hands each connection to one caller), and ``close()`` from any thread stops a blocked
/// ``accept()``. The sockets it returns are independent, each with one owner.
public final class TLSListener: @unchecked Sendable {
    // @unchecked: `fileDescriptor` and `host`/`port` are immutable; `state` is behind a
    // Mutex; `timeout` is meant to be set before accepting starts.
    /// The server context every accepted connection uses.
    public let context: any TLSServerContext
    /// The listening file descriptor (no longer valid after ``close()``).
    public let fileDescriptor: Int32
    /// Whether ``close()`` was called, how many ``accept()`` calls are using the descriptor,
    /// and whether it was closed: the descriptor is closed only once no accept() can still
    /// pass its number to the kernel (where a reused number would accept on another socket).
    private let state = Mutex((closed: false, accepting: 0, released: false))
    /// The address actually bound (useful with port 0).
    public let host: String
    /// The port actually bound (useful with port 0).
    public let port: UInt16
    /// Time-out applied to accepted sockets. Default 30 s.
    public var timeout: Duration?

    /// Binds and listens on `host:port` (port 0 picks a free port).
    public init(host: String, port: UInt16, context: any TLSServerContext, backlog: Int32 = 128) throws(TLSError) {
        self.context = context
        self.timeout = .seconds(30)
        guard let (family, address) = try POSIX.resolve(host: host, port: port, passive: true).first else {
            throw TLSError(.io, "no address to listen on for \(host)")
        }
        let fd = socket(family, POSIX.streamType, 0)
        guard fd >= 0 else { throw POSIX.ioError("socket()") }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = address.withUnsafeBytes { raw in
            bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        guard bound == 0, listen(fd, backlog) == 0 else {
            let error = POSIX.ioError("listening on \(host):\(port)")
            Glibc.close(fd)
            throw error
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let described = withUnsafeBytes(of: &storage) { POSIX.describe($0.baseAddress!) }
        self.fileDescriptor = fd
        self.host = described.host
        self.port = described.port
    }

    deinit { close() }

    /// Waits for a TCP connection and returns it as a TLS socket whose handshake has not
    /// run yet (call ``TLSSocket/handshake()``, e.g. on a worker thread).
    public func accept() throws(TLSError) -> TLSSocket {
        let entered = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            s.accepting += 1
            return true
        }
        guard entered else { throw TLSError(.closed, "the listener was closed") }
        defer { leaveAccept() }
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(fileDescriptor, $0, &length) }
            }
            if fd < 0 {
                if state.withLock({ $0.closed }) { throw TLSError(.closed, "the listener was closed") }
                if errno == EINTR || errno == ECONNABORTED { continue }
                throw POSIX.ioError("accept()")
            }
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let peer = withUnsafeBytes(of: &storage) { POSIX.describe($0.baseAddress!) }
            let connection: any TLSConnection
            do { connection = try context.makeConnection() } catch {
                Glibc.close(fd)
                throw error
            }
            return TLSSocket(fileDescriptor: fd, connection: connection, timeout: timeout, peerAddress: "\(peer.host):\(peer.port)")
        }
    }

    /// Stops listening; a blocked ``accept()`` then throws `TLSError.Code.closed`. The
    /// descriptor is closed at once, or by the last ``accept()`` still running.
    public func close() {
        let closeNow = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            s.closed = true
            Glibc.shutdown(fileDescriptor, Int32(SHUT_RDWR))  // wakes every blocked accept()
            guard s.accepting == 0 else { return false }
            s.released = true
            return true
        }
        if closeNow { Glibc.close(fileDescriptor) }
    }

    private func leaveAccept() {
        let closeNow = state.withLock { s -> Bool in
            s.accepting -= 1
            guard s.closed, s.accepting == 0, !s.released else { return false }
            s.released = true
            return true
        }
        if closeNow { Glibc.close(fileDescriptor) }
    }
}
