public import TLSKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A blocking TLS socket for any backend, built only on the public sans-I/O
/// `TLSConnection` API.
///
/// The socket is read in 64 KiB chunks (never a record at a time) into a buffer it owns,
/// and records are written in large chunks too.
///
/// ```swift
/// let socket = try TLSSocket.connect(host: "example.com", port: 443, context: context)
/// try socket.send("GET / HTTP/1.0\r\nHost: example.com\r\n\r\n")
/// while let chunk = try socket.receive() { print(String(decoding: chunk, as: UTF8.self)) }
/// try socket.shutdown()
/// ```
///
/// Memory: each socket holds two 64 KiB buffers and nothing that grows with the peer's
/// behaviour. Blocking ``send(_:)-(UnsafeRawBufferPointer)`` writes every record before it
/// returns, ``receive(into:)`` takes at most 64 KiB from the kernel at a time, and in
/// non-blocking mode ``trySend(_:)`` accepts at most 64 KiB while earlier records wait — so a
/// peer that never reads, or sends faster than the application reads, cannot grow it.
///
/// Thread-safety: not thread-safe; one owner at a time. The file descriptor is closed by
/// ``close()`` or when the socket is released.
public final class TLSSocket {
    /// The sans-I/O engine this socket drives.
    public let connection: any TLSConnection
    /// The same engine, when it takes lent buffers (both of TLSKit's backends do).
    let lender: (any TLSBufferLending)?
    /// The underlying file descriptor; -1 once closed.
    public private(set) var fileDescriptor: Int32
    /// The peer's address as text, when known.
    public let peerAddress: String?

    let inBuffer: UnsafeMutableRawBufferPointer
    let outBuffer: UnsafeMutableRawBufferPointer
    /// Non-blocking mode: TLS bytes taken from the connection but not yet accepted by the
    /// kernel (from `pendingStart`).
    var pendingSend: [UInt8] = []
    var pendingStart = 0
    /// Whether the socket is in non-blocking mode (see ``setNonBlocking(_:)``).
    public internal(set) var isNonBlocking = false
    static let bufferSize = 65_536
    /// The time-out for single reads and writes, and the overall bound of handshake,
    /// shutdown and unwrap.
    private var timeout: Duration?

    /// Wraps a connected stream socket the caller hands over (it is closed with this
    /// object). The handshake runs on the first ``handshake()``, send or receive.
    ///
    /// - Parameters:
    ///   - fileDescriptor: a connected stream socket; from now on this object owns it.
    ///   - connection: the engine to drive, made by a client or server context.
    ///   - timeout: applied to every blocking read and write (`SO_RCVTIMEO` /
    ///     `SO_SNDTIMEO`), and as **one overall deadline** to ``handshake()``,
    ///     ``shutdown(waitForPeer:)`` and ``unwrap()``: a peer that trickles a byte at a time
    ///     cannot stretch them beyond it. `nil` waits forever. Default 30 seconds.
    ///   - peerAddress: the peer's address as text, for messages. Default `nil`.
    public init(fileDescriptor: Int32, connection: any TLSConnection, timeout: Duration? = .seconds(30), peerAddress: String? = nil) {
        self.fileDescriptor = fileDescriptor
        self.connection = connection
        self.lender = connection as? any TLSBufferLending
        self.peerAddress = peerAddress
        self.timeout = timeout
        inBuffer = .allocate(byteCount: Self.bufferSize, alignment: 16)
        // Room for the records of a whole 64 KiB send, sealed straight into it (see send).
        // 64-byte aligned: the engine copies records into it, and glibc's `rep movsb` is slow on
        // some x86 CPUs unless the destination is (see TLSChannelHandler.copyAlignment).
        outBuffer = .allocate(byteCount: tlsLentOutputCapacity(forPlaintext: Self.bufferSize), alignment: 64)
        POSIX.setTimeouts(fileDescriptor, timeout)
    }

    deinit {
        close()
        inBuffer.deallocate()
        outBuffer.deallocate()
    }

    /// Connects to `host:port`, trying each resolved address (IPv4 and IPv6) in turn, and
    /// runs the handshake.
    ///
    /// - Parameters:
    ///   - host: a DNS name or an IP address literal to connect to.
    ///   - port: the TCP port.
    ///   - context: the client context that makes the connection.
    ///   - serverName: the name to verify; default: `host` (a DNS name or an IP literal).
    ///   - timeout: for the TCP connect and then every read and write. Default 30 s.
    ///   - beforeHandshake: a cleartext exchange on the connected socket before TLS
    ///     starts (STARTTLS: read the greeting, send `STARTTLS`, read the go-ahead). Default
    ///     `nil`: TLS from the first byte.
    /// - Throws: `TLSError` (`.io`/`.timeout` for the TCP part, the handshake's error
    ///   otherwise).
    public static func connect(
        host: String, port: UInt16, context: any TLSClientContext, serverName: TLSServerName? = nil,
        timeout: Duration? = .seconds(30), beforeHandshake: ((Int32) throws(TLSError) -> Void)? = nil
    ) throws(TLSError) -> TLSSocket {
        let name: TLSServerName
        if let serverName { name = serverName } else { name = try TLSServerName(host) }
        let addresses = try POSIX.resolve(host: host, port: port, passive: false)
        return try connect(
            addresses: addresses, label: "\(host):\(port)", context: context, serverName: name, timeout: timeout,
            beforeHandshake: beforeHandshake)
    }

    /// Tries each address in turn. Only a failed TCP connect moves on to the next address:
    /// once TCP is up, the engine has spoken, so an error in the STARTTLS exchange or the
    /// handshake (I/O, time-out, alert) is the answer and is thrown at once. Each attempt
    /// gets a fresh engine.
    static func connect(
        addresses: [(family: Int32, address: [UInt8])], label: String, context: any TLSClientContext, serverName: TLSServerName,
        timeout: Duration?, beforeHandshake: ((Int32) throws(TLSError) -> Void)?
    ) throws(TLSError) -> TLSSocket {
        var lastError = TLSError(.io, "no address found for \(label)")
        for (family, address) in addresses {
            let fd: Int32
            do { fd = try POSIX.connect(family: family, address: address, timeout: timeout) } catch {
                lastError = TLSError(error.code, "\(label): \(error.message)")
                continue
            }
            let connection: any TLSConnection
            do { connection = try context.makeConnection(serverName: serverName) } catch {
                Glibc.close(fd)
                throw error
            }
            let socket = TLSSocket(fileDescriptor: fd, connection: connection, timeout: timeout, peerAddress: label)
            if let beforeHandshake {
                do throws(TLSError) { try beforeHandshake(fd) } catch {
                    socket.close()
                    throw TLSError(error.code == .io ? .handshake : error.code, "before TLS: \(error.message)")
                }
            }
            do { try socket.handshake() } catch {
                socket.close()
                throw error
            }
            return socket
        }
        throw lastError
    }

    /// Changes the time-out for later reads and writes, and the overall bound of later
    /// handshakes, shutdowns and unwraps (`nil`: wait forever).
    public func setTimeout(_ timeout: Duration?) {
        self.timeout = timeout
        if fileDescriptor >= 0 { POSIX.setTimeouts(fileDescriptor, timeout) }
    }

    /// Opens a plain TCP connection (IPv4 or IPv6, each resolved address in turn), for
    /// protocols that talk cleartext before TLS; wrap it later with
    /// ``init(fileDescriptor:connection:timeout:peerAddress:)``. The caller owns the
    /// descriptor until it hands it over.
    public static func openTCP(host: String, port: UInt16, timeout: Duration? = .seconds(30)) throws(TLSError) -> Int32 {
        var lastError = TLSError(.io, "no address found for \(host)")
        for (family, address) in try POSIX.resolve(host: host, port: port, passive: false) {
            do { return try POSIX.connect(family: family, address: address, timeout: timeout) } catch {
                lastError = TLSError(error.code, "\(host):\(port): \(error.message)")
            }
        }
        throw lastError
    }

    /// What the handshake negotiated; `nil` before it completed.
    public var connectionInfo: TLSConnectionInfo? { connection.connectionInfo }

    /// Runs the handshake to completion (returns at once if it is done).
    ///
    /// - Throws: the handshake's error (after sending the alert that tells the peer why);
    ///   `TLSError.Code.timeout` when the whole handshake takes longer than the socket's
    ///   time-out, however the peer spaces its bytes.
    ///
    /// Asynchronous verification policies run on TLSKit's verifier thread while this waits,
    /// within the same deadline: a policy that has not answered when it passes fails the
    /// handshake (the peer gets an alert) with `TLSError.Code.timeout`.
    public func handshake() throws(TLSError) {
        let deadline = handshakeDeadline()
        while let pending = try handshakeUntilVerification(deadline) {
            try completeVerificationBlocking(pending, deadline)
        }
    }

    /// The one deadline of a handshake.
    func handshakeDeadline() -> Deadline { Deadline(timeout, "the TLS handshake") }

    /// Runs the handshake until it completes (`nil`) or waits for an asynchronous
    /// verification (returned: run it, complete it, call again).
    func handshakeUntilVerification(_ deadline: Deadline) throws(TLSError) -> TLSPendingVerification? {
        if !connection.isHandshakeComplete { connection.enableAsynchronousVerification() }
        let outcome = try connection.driveHandshake(
            flush: { () throws(TLSError) in
                try flush(deadline)
                return true
            },
            fill: { () throws(TLSError) in
                try fill(deadline)
                return true
            })
        switch outcome {
        case .done: return nil
        case .verificationPending(let pending): return pending
        case .wouldBlockOnRead, .wouldBlockOnWrite:
            throw TLSError(.internal, "a blocking handshake step reported that it would block")
        }
    }

    /// Runs `pending` to completion on TLSKit's verifier thread, within `deadline`, and hands
    /// the verdict to the engine. Past the deadline the verification is rejected (the next
    /// handshake step sends the alert) and `TLSError.Code.timeout` is thrown.
    func completeVerificationBlocking(_ pending: TLSPendingVerification, _ deadline: Deadline?) throws(TLSError) {
        if let verdict = TLSVerifierThread.shared.runBlocking(until: deadline?.end, { await pending.evaluate() }) {
            try connection.completeVerification(verdict)
            return
        }
        throw refuseUnansweredVerification(pending, deadline)
    }

    /// A verification that did not answer in time: rejected (the alert is sent), and the
    /// error to throw.
    func refuseUnansweredVerification(_ pending: TLSPendingVerification, _ deadline: Deadline?) -> TLSError {
        let error = TLSError(
            .timeout,
            "the verification policy '\(pending.policyNames.first ?? "?")' did not answer within the handshake's time-out "
                + "\(deadline?.timeout.map { "\($0)" } ?? "") (or was waited for on TLSKit's verifier thread itself); the handshake was refused")
        try? connection.completeVerification(pending.rejected("no verdict: \(error.message)"))
        _ = try? connection.handshake()  // queues the alert
        try? flush()
        return error
    }

    /// Sends all of `bytes` (encrypting, then writing to the socket).
    public func send(_ bytes: UnsafeRawBufferPointer) throws(TLSError) {
        if !connection.isHandshakeComplete { try handshake() }
        var offset = 0
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, Self.bufferSize)
            let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + chunk])
            if let lender, connection.pendingOutputByteCount == 0 {
                // The records are sealed into the send buffer, not queued and copied there.
                var written: Result<Int, TLSError> = .success(0)
                let sealed = lender.withLentOutput(outBuffer) {
                    written = Result { () throws(TLSError) in try connection.write(slice) }
                }
                if case .failure(let error) = written {
                    try? sendOut(sealed)  // what was sealed before the failure (an alert, perhaps)
                    throw error
                }
                try sendOut(sealed)
                offset += try written.get()
            } else {
                offset += try connection.write(slice)
            }
            try flush()
        }
    }

    /// Sends all of `bytes`.
    public func send(_ bytes: [UInt8]) throws(TLSError) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(TLSError) in try send(raw) } }
        try result.get()
    }

    /// Sends a string's UTF-8 bytes.
    public func send(_ text: String) throws(TLSError) { try send(Array(text.utf8)) }

    /// Receives up to `buffer.count` plaintext bytes, blocking until at least one arrives.
    ///
    /// - Returns: the byte count, or 0 once the peer has closed cleanly (close_notify).
    /// - Throws: `TLSError.Code.raggedEOF` if the peer hung up without close_notify,
    ///   `TLSError.Code.timeout` when the read time-out passes.
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> Int {
        if !connection.isHandshakeComplete { try handshake() }
        let outcome = try connection.driveRead(
            into: buffer,
            flush: { () throws(TLSError) in
                try flush()
                return true
            },
            fill: { () throws(TLSError) in
                try fill()
                return true
            })
        guard case .done(.bytes(let n)) = outcome else { return 0 }
        return n
    }

    /// Receives up to `maximumCount` bytes; `nil` once the peer has closed cleanly.
    public func receive(maximumCount: Int = 65_536) throws(TLSError) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: maximumCount)
        let result = out.withUnsafeMutableBytes { raw in Result { () throws(TLSError) in try receive(into: raw) } }
        let n = try result.get()
        if n == 0 { return nil }
        out.removeLast(maximumCount - n)
        return out
    }

    /// Sends close_notify and, if `waitForPeer`, reads (and discards) until the peer's
    /// close_notify arrives or it hangs up. The socket stays open; call ``close()``.
    /// The whole exchange is bounded by the socket's time-out: a peer that keeps sending data
    /// instead of close_notify is left behind when it passes.
    public func shutdown(waitForPeer: Bool = true) throws(TLSError) {
        guard fileDescriptor >= 0 else { return }
        let deadline = Deadline(timeout, "waiting for the peer's close_notify")
        var status: TLSShutdownStatus
        do { status = try connection.shutdown() } catch {
            try? flush(deadline)  // a failed connection still owes the peer its alert
            throw error
        }
        try flush(deadline)
        guard waitForPeer else { return }
        var scratch = [UInt8](repeating: 0, count: 4096)
        while status == .awaitingPeer {
            let read = scratch.withUnsafeMutableBytes { raw in Result { () throws(TLSError) in try connection.read(into: raw) } }
            switch read {
            case .success(.closed):
                status = try connection.shutdown()
            case .success(.bytes):
                continue
            case .success(.needsInput):
                do { try fill(deadline) } catch { return }  // gone or too slow: we are closing anyway
            case .failure(let error):
                // A peer that hangs up instead of answering close_notify loses nothing of
                // ours: everything we sent was already written.
                if error.code == .raggedEOF || error.code == .io || error.code == .timeout { return }
                try? flush(deadline)  // e.g. a bad record while waiting: send its alert
                throw error
            }
        }
    }

    /// Ends TLS and gives the plain socket back: sends close_notify, reads until the peer's
    /// close_notify (discarding data in between), and returns the file descriptor — now
    /// owned by the caller — with any cleartext the peer sent after its close_notify.
    ///
    /// - Throws: `TLSError.Code.raggedEOF` if the peer hangs up instead,
    ///   `TLSError.Code.timeout` if its close_notify has not come within the socket's
    ///   time-out (counted once for the whole exchange).
    public func unwrap() throws(TLSError) -> (fileDescriptor: Int32, cleartext: [UInt8]) {
        guard fileDescriptor >= 0 else { throw TLSError(.closed, "the socket is closed") }
        let deadline = Deadline(timeout, "waiting for the peer's close_notify to return to cleartext")
        var scratch = [UInt8](repeating: 0, count: 4096)
        do throws(TLSError) {
            var status = try connection.shutdown()
            try flush(deadline)
            while status == .awaitingPeer {
                let read = scratch.withUnsafeMutableBytes { raw in Result { () throws(TLSError) in try connection.read(into: raw) } }
                switch try read.get() {
                case .closed: status = try connection.shutdown()
                case .bytes: continue
                case .needsInput: try fill(deadline)
                }
            }
        } catch {
            try? flush(deadline)  // the alert, if the failure queued one
            throw error
        }
        let fd = fileDescriptor
        fileDescriptor = -1  // the caller owns it now
        return (fd, connection.takeUnprocessedInput())
    }

    /// Closes the file descriptor (without a TLS close_notify; use ``shutdown(waitForPeer:)`` first).
    public func close() {
        guard fileDescriptor >= 0 else { return }
        Glibc.close(fileDescriptor)
        fileDescriptor = -1
    }

    // MARK: - Moving bytes

    /// An overall bound for a multi-step exchange (handshake, shutdown, unwrap), so that a
    /// peer cannot stretch it by sending a byte just before each read's time-out.
    struct Deadline: Sendable {
        let end: ContinuousClock.Instant?
        let timeout: Duration?
        let what: String

        init(_ timeout: Duration?, _ what: String) {
            self.timeout = timeout
            self.end = timeout.map { ContinuousClock.now + $0 }
            self.what = what
        }
    }

    /// Waits until the socket is ready for `events` (POLLIN/POLLOUT), or throws
    /// `TLSError.Code.timeout` once the deadline has passed.
    private func wait(_ events: Int32, _ deadline: Deadline?) throws(TLSError) {
        guard let deadline, let end = deadline.end else { return }
        while true {
            let remaining = end - ContinuousClock.now
            if remaining <= .zero {
                throw TLSError(.timeout, "\(deadline.what) did not complete within \(deadline.timeout!) (the peer is silent or too slow)")
            }
            let (seconds, attoseconds) = remaining.components
            let ms = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            var pfd = pollfd(fd: fileDescriptor, events: Int16(events), revents: 0)
            let ready = poll(&pfd, 1, ms)
            if ready > 0 { return }
            if ready < 0 && errno != EINTR { throw POSIX.ioError("poll()") }
        }
    }

    /// Writes every pending TLS byte to the socket (within `deadline`, if there is one).
    private func flush(_ deadline: Deadline? = nil) throws(TLSError) {
        // With a deadline, wait for writability first and never block inside send().
        while connection.pendingOutputByteCount > 0 {
            try sendOut(connection.drainOutput(into: outBuffer), deadline)
        }
    }

    /// Writes the first `count` bytes of the send buffer to the socket.
    private func sendOut(_ count: Int, _ deadline: Deadline? = nil) throws(TLSError) {
        let flags = deadline?.end == nil ? POSIX.noSignal : POSIX.noSignal | Int32(MSG_DONTWAIT)
        var offset = 0
        while offset < count {
            guard fileDescriptor >= 0 else { throw TLSError(.closed, "the socket is closed") }
            try wait(Int32(POLLOUT), deadline)
            let sent = Glibc.send(fileDescriptor, outBuffer.baseAddress! + offset, count - offset, flags)
            if sent < 0 {
                if errno == EINTR { continue }
                if deadline?.end != nil && (errno == EAGAIN || errno == EWOULDBLOCK) { continue }  // poll again
                throw POSIX.ioError("send()")
            }
            offset += sent
        }
    }

    /// Reads one chunk from the socket into the engine (or reports end of input), within
    /// `deadline` if there is one.
    private func fill(_ deadline: Deadline? = nil) throws(TLSError) {
        guard fileDescriptor >= 0 else { throw TLSError(.closed, "the socket is closed") }
        while true {
            try wait(Int32(POLLIN), deadline)
            let n = recv(fileDescriptor, inBuffer.baseAddress, inBuffer.count, deadline?.end == nil ? 0 : Int32(MSG_DONTWAIT))
            if n > 0 {
                try connection.receive(UnsafeRawBufferPointer(rebasing: inBuffer[0..<n]))
                return
            }
            if n == 0 {
                connection.receiveEndOfInput()
                return
            }
            if errno == EINTR { continue }
            if deadline?.end != nil && (errno == EAGAIN || errno == EWOULDBLOCK) { continue }  // poll again
            throw POSIX.ioError("recv()")
        }
    }
}
