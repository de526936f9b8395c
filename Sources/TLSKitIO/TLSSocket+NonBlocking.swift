public import TLSKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Non-blocking use: the `try…` operations answer would-block results instead of waiting.
extension TLSSocket {
    /// Puts the socket in non-blocking mode (or back). In non-blocking mode use the `try…`
    /// operations, which answer ``TLSIOResult/wouldBlockOnRead`` or
    /// ``TLSIOResult/wouldBlockOnWrite`` instead of waiting, so the socket can sit in any
    /// poll/epoll loop: wait for the named readiness of ``fileDescriptor`` and call again.
    public func setNonBlocking(_ on: Bool) {
        guard fileDescriptor >= 0 else { return }
        let flags = fcntl(fileDescriptor, F_GETFL)
        _ = fcntl(fileDescriptor, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK)
        isNonBlocking = on
    }

    /// Advances the handshake without blocking.
    ///
    /// - Returns: `.completed(0)` once it is done; a would-block result otherwise.
    ///
    /// An asynchronous verification policy is waited for here, on TLSKit's verifier
    /// thread, within the socket's time-out (as in ``handshake()``).
    public func tryHandshake() throws(TLSError) -> TLSIOResult {
        if !connection.isHandshakeComplete { connection.enableAsynchronousVerification() }
        while true {
            switch try connection.driveHandshake(flush: tryFlushPending, fill: tryFill) {
            case .done: return .completed(0)
            case .wouldBlockOnRead: return .wouldBlockOnRead
            case .wouldBlockOnWrite: return .wouldBlockOnWrite
            case .verificationPending(let pending): try completeVerificationBlocking(pending, handshakeDeadline())
            }
        }
    }

    /// Reads without blocking: `.completed(n)` with n ≥ 1 plaintext bytes, `.closed` after
    /// the peer's close_notify, or a would-block result.
    public func tryReceive(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> TLSIOResult {
        if !connection.isHandshakeComplete {
            let progress = try tryHandshake()
            guard progress == .completed(0) else { return progress }
        }
        if try !tryFlushPending() { return .wouldBlockOnWrite }
        switch try connection.driveRead(into: buffer, flush: tryFlushPending, fill: tryFill) {
        case .done(.bytes(let n)): return .completed(n)
        case .done: return .closed
        case .wouldBlockOnRead: return .wouldBlockOnRead
        case .wouldBlockOnWrite: return .wouldBlockOnWrite
        case .verificationPending: return .wouldBlockOnRead  // reads never suspend for verification
        }
    }

    /// Encrypts up to 64 KiB of `bytes` and sends as much as the kernel takes now, like
    /// write(2): `.completed(n)` with the plaintext bytes accepted (1 ≤ n ≤ 65,536; 0 for an
    /// empty buffer) — call again with the rest. The records not yet sent wait in the socket
    /// until ``tryFlush()`` (call it when the socket is writable); while any wait, nothing more
    /// is accepted (`.wouldBlockOnWrite`). So a peer that does not read holds at most one
    /// call's records here: the socket's memory stays bounded whatever the caller writes.
    public func trySend(_ bytes: UnsafeRawBufferPointer) throws(TLSError) -> TLSIOResult {
        if !connection.isHandshakeComplete {
            let progress = try tryHandshake()
            guard progress == .completed(0) else { return progress }
        }
        if try !tryFlushPending() { return .wouldBlockOnWrite }
        let n = try connection.write(UnsafeRawBufferPointer(rebasing: bytes.prefix(Self.bufferSize)))
        _ = try tryFlushPending()
        return .completed(n)
    }

    /// Sends waiting records without blocking: `.completed(0)` when none are left.
    public func tryFlush() throws(TLSError) -> TLSIOResult {
        try tryFlushPending() ? .completed(0) : .wouldBlockOnWrite
    }

    /// Moves the connection's output to the kernel; `false` if the kernel would block.
    func tryFlushPending() throws(TLSError) -> Bool {
        while true {
            if pendingStart == pendingSend.count {
                pendingSend.removeAll(keepingCapacity: true)
                pendingStart = 0
                guard connection.pendingOutputByteCount > 0 else { return true }
                let n = connection.drainOutput(into: outBuffer)
                pendingSend.append(contentsOf: UnsafeRawBufferPointer(rebasing: outBuffer[0..<n]))
            }
            guard fileDescriptor >= 0 else { throw TLSError(.closed, "the socket is closed") }
            let sent = pendingSend.withUnsafeBytes {
                Glibc.send(fileDescriptor, $0.baseAddress! + pendingStart, $0.count - pendingStart, POSIX.noSignal)
            }
            if sent < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return false }
                throw POSIX.ioError("send()")
            }
            pendingStart += sent
        }
    }

    /// Reads what the kernel has into the connection; `false` if it would block.
    func tryFill() throws(TLSError) -> Bool {
        guard fileDescriptor >= 0 else { throw TLSError(.closed, "the socket is closed") }
        while true {
            let n = recv(fileDescriptor, inBuffer.baseAddress, inBuffer.count, 0)
            if n > 0 {
                try connection.receive(UnsafeRawBufferPointer(rebasing: inBuffer[0..<n]))
                return true
            }
            if n == 0 {
                connection.receiveEndOfInput()
                return true
            }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return false }
            throw POSIX.ioError("recv()")
        }
    }
}

/// The result of a non-blocking ``TLSSocket`` operation.
public enum TLSIOResult: Hashable, Sendable {
    /// Done: the number of plaintext bytes moved (0 for a handshake or a flush).
    case completed(Int)
    /// Wait until the socket is readable, then call again.
    case wouldBlockOnRead
    /// Wait until the socket is writable, then call again.
    case wouldBlockOnWrite
    /// The peer sent close_notify.
    case closed
}
