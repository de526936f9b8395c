public import NIOCore
import NIOTLS
public import TLSKit

/// A SwiftNIO channel handler that drives any backend's sans-I/O `TLSConnection`:
/// ciphertext `ByteBuffer`s from the network in, plaintext `ByteBuffer`s up the pipeline,
/// and the reverse for writes.
///
/// - Writes made before the handshake completes are buffered and sent after it.
/// - Small writes are coalesced: writes under 2 KiB wait for the next `flush` and are sealed
///   together, up to one record's 16 KiB, so a response written as head, body and end goes out
///   as one record. A larger write is sealed as it comes, after the small writes before it.
///   Their promises succeed, in order, once the record is written; a close sends them before
///   its close_notify; they fail if the channel goes away before the flush.
/// - When the handshake completes it fires NIOTLS's
///   `TLSUserEvent.handshakeCompleted(negotiatedProtocol:)`, so existing ALPN helpers work.
/// - Closing sends close_notify first. A peer that hangs up without close_notify is
///   reported with `errorCaught(TLSError(.raggedEOF))`.
/// - Half-closure: `close(mode: .output)` sends close_notify and closes the TCP output while
///   reads go on, until the peer's own close_notify arrives (as `ChannelEvent.inputClosed`).
///   A peer's close_notify received first is answered at once and fired as `inputClosed`;
///   writes after it fail with `TLSError.Code.closed`.
/// - STARTTLS reversal: ``stopTLS(promise:)`` exchanges close_notify alerts, then removes the
///   handler so the channel carries cleartext again; cleartext the peer sent right after its
///   close_notify is passed on up the pipeline, not lost.
/// - A fatal error (a bad record, a failed handshake, a rejected certificate) is fired as
///   `errorCaught` and the channel is closed — after the alert that tells the peer why, and
///   any output queued before it, has been written (at most 2 s for a peer that does not read).
/// - A handshake that has not completed within `handshakeTimeout` of the channel becoming
///   active ends with `errorCaught(TLSError(.timeout))` and the channel closed, so a peer that
///   connects and stays silent cannot hold a connection open for ever.
/// - Asynchronous verification: an asynchronous `TLSVerificationPolicy` runs in a task off
///   the event loop while the handshake is suspended (the loop goes on serving other
///   channels; input is buffered); its verdict resumes the handshake, or fails it with the
///   alert and an error naming the policy. `handshakeTimeout` covers the wait. Closing the
///   channel meanwhile cancels the task and ignores its result. Clients suspend on every
///   backend, servers (an mTLS server asking about the client's certificate, or about a
///   returning client's session) on backends that can suspend them: GnuTLS. An OpenSSL 3.0
///   server's asynchronous policies run to completion on TLSKit's verifier thread inside the
///   handshake step, which holds the event loop meanwhile.
/// - Bounded memory: a connection holds at most ``bufferLimit`` bytes (default 64 KiB, like
///   rustls' buffer limit) of its own: writes made before the handshake completes (a write
///   over the limit fails with `TLSError.Code.invalidState`; the connection goes on), and
///   input that arrives after the peer's close_notify (over the limit, the connection fails).
///   Output the peer is not reading is bounded by the channel's writability: while the
///   outbound buffer is over its high-water mark (`ChannelOptions.writeBufferWaterMark`,
///   NIO's default 64 KiB) the handler stops reading, and resumes once the channel is
///   writable again — so a peer that writes but never reads cannot grow an echoing server.
/// - Idle time-out: with ``idleTimeout`` set, an established connection that sees no input and
///   no writes for that long is closed (close_notify, then `errorCaught(TLSError(.timeout))`).
///   Off by default; `tlskit serve` turns it on.
///
/// Thread-safety: like every channel handler, used on its channel's event loop only.
public final class TLSChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    enum State {
        case handshaking
        case active
        /// We sent close_notify and closed the TCP output; reading goes on.
        case outputClosed
        /// stopTLS: our close_notify is sent; waiting for the peer's.
        case unwrapping
        /// stopTLS finished: bytes pass through untouched until the handler leaves.
        case unwrapped
        /// close_notify sent (and the peer's received, or the channel is closing).
        case closing
        case closed
    }

    let connection: any TLSConnection
    /// The same engine, when it takes lent buffers (both of TLSKit's backends do).
    let lender: (any TLSBufferLending)?
    var state = State.handshaking
    var buffered: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    var readBuffer: ByteBuffer?
    let handshakeTimeout: TimeAmount?
    var handshakeTimer: Scheduled<Void>?
    var storedContext: ChannelHandlerContext?
    var unwrapPromise: EventLoopPromise<Void>?
    /// Bytes held in `buffered`.
    var bufferedByteCount = 0
    /// Ciphertext received after the peer's close_notify.
    var inputAfterCloseNotify = 0
    /// A `read()` held back while the channel was not writable.
    var readHeld = false
    var idleTimer: Scheduled<Void>?
    var lastActivity = NIODeadline.now()
    /// A fatal error's alert is being written, or was written and our output closed: input is
    /// read and dropped (see `lingerAfterAlert`), and the application's close waits for that.
    var failing = false
    /// An asynchronous verification policy, running off the event loop.
    var verificationTask: Task<Void, Never>?
    /// Small plaintext writes gathered into one record until the next flush (see `write`).
    var staged: ByteBuffer?
    /// The promise of the staged writes (later writes' promises are chained to it).
    var stagedPromise: EventLoopPromise<Void>?

    /// The default ``bufferLimit``: 64 KiB.
    public static let defaultBufferLimit = 65_536

    /// The most bytes this handler buffers for its connection: plaintext written before the
    /// handshake completes, and ciphertext arriving after the peer's close_notify (kept for
    /// ``stopTLS(promise:)``). Default ``defaultBufferLimit`` (64 KiB). Output the peer does
    /// not read is bounded by the channel's write-buffer water mark instead (see the type's
    /// documentation). Set it on the channel's event loop.
    public var bufferLimit: Int

    /// How long an established connection may see neither input nor writes before it is
    /// closed with close_notify and `errorCaught(TLSError(.timeout))`; `nil` (the default)
    /// never. Counted from the handshake's completion; set it before then, on the event loop.
    public var idleTimeout: TimeAmount?

    /// A handler for one connection (make it with a context's `makeConnection`).
    ///
    /// - Parameters:
    ///   - connection: the sans-I/O engine this handler drives; it must not have been used yet.
    ///   - handshakeTimeout: how long the handshake may take, counted from the channel
    ///     becoming active; `nil` waits for ever. Default 30 seconds (as TLSKitIO's `TLSSocket`).
    ///   - bufferLimit: see ``bufferLimit``; default 64 KiB.
    ///   - idleTimeout: see ``idleTimeout``; default `nil` (none).
    public init(
        connection: any TLSConnection, handshakeTimeout: TimeAmount? = .seconds(30),
        bufferLimit: Int = TLSChannelHandler.defaultBufferLimit, idleTimeout: TimeAmount? = nil
    ) {
        self.connection = connection
        self.lender = connection as? any TLSBufferLending
        connection.enableAsynchronousVerification()
        self.handshakeTimeout = handshakeTimeout
        self.bufferLimit = bufferLimit
        self.idleTimeout = idleTimeout
    }

    /// A client-side handler verifying `serverName` (a DNS name or an IP address).
    ///
    /// - Parameters:
    ///   - context: the client context that makes the connection.
    ///   - serverName: the name to verify, and to send as SNI when it is a DNS name.
    ///   - handshakeTimeout: see ``init(connection:handshakeTimeout:bufferLimit:idleTimeout:)``; default 30 s.
    /// - Throws: `TLSError` when `serverName` is neither a DNS name nor an IP address.
    public convenience init(context: any TLSClientContext, serverName: String, handshakeTimeout: TimeAmount? = .seconds(30)) throws {
        self.init(connection: try context.makeConnection(serverName: try TLSServerName(serverName)), handshakeTimeout: handshakeTimeout)
    }

    /// A server-side handler.
    ///
    /// - Parameters:
    ///   - context: the server context that makes the connection.
    ///   - handshakeTimeout: see ``init(connection:handshakeTimeout:bufferLimit:idleTimeout:)``; default 30 s.
    public convenience init(context: any TLSServerContext, handshakeTimeout: TimeAmount? = .seconds(30)) throws {
        self.init(connection: try context.makeConnection(), handshakeTimeout: handshakeTimeout)
    }

    /// What the handshake negotiated, once it has completed.
    public var connectionInfo: TLSConnectionInfo? { connection.connectionInfo }

    // MARK: Inbound

    public func handlerAdded(context: ChannelHandlerContext) {
        storedContext = context
        guard context.channel.isActive else { return }
        startHandshakeTimer(context: context)
        if connection.side == .client { advanceHandshake(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        dropStaged(TLSError(.closed, "the TLS handler was removed before the write was flushed"))
        cancelVerification()
        cancelHandshakeTimer()
        cancelIdleTimer()
        storedContext = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        startHandshakeTimer(context: context)
        if connection.side == .client { advanceHandshake(context: context) }
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if state == .unwrapped {
            context.fireChannelRead(data)
            return
        }
        if failing { return }  // after our fatal alert: read only so the peer's bytes cause no reset
        let bytes = unwrapInboundIn(data)
        lastActivity = .now()
        if state == .closing {
            // After the peer's close_notify only cleartext for stopTLS may follow; keep a bounded amount.
            inputAfterCloseNotify += bytes.readableBytes
            guard inputAfterCloseNotify <= bufferLimit else {
                fail(
                    context: context,
                    TLSError(
                        .protocolViolation,
                        "the peer sent more than \(bufferLimit) bytes after its close_notify (the handler's bufferLimit); "
                            + "nothing may follow close_notify but cleartext for stopTLS — raise bufferLimit if the protocol sends more before stopTLS runs"
                    ))
                return
            }
        }
        do {
            if let lender {
                // The engine reads the records where NIO put them; only a partial record left
                // at the end is copied into its queue.
                try bytes.withUnsafeReadableBytes { (raw) throws(TLSError) in
                    try lender.withLentInput(raw) { process(context: context) }
                }
                return
            }
            try bytes.withUnsafeReadableBytes { (raw) throws(TLSError) in try connection.receive(raw) }
        } catch {
            fail(context: context, error)
            return
        }
        process(context: context)
    }

    /// Acts on received input: the handshake, or the records behind it.
    private func process(context: ChannelHandlerContext) {
        switch state {
        case .handshaking: advanceHandshake(context: context)
        case .active, .outputClosed, .unwrapping, .closing: readPlaintext(context: context)
        case .unwrapped, .closed: break
        }
    }

    /// The socket has nothing more for now, and the connection may stay idle for long: it
    /// keeps no read buffer meanwhile (16 KiB each, over thousands of idle connections); the
    /// next burst of input allocates one.
    public func channelReadComplete(context: ChannelHandlerContext) {
        readBuffer = nil
        context.fireChannelReadComplete()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .handshaking:
            connection.receiveEndOfInput()
            advanceHandshake(context: context)
        case .active, .outputClosed:
            connection.receiveEndOfInput()
            readPlaintext(context: context)
        case .unwrapping:
            let error = TLSError(
                .raggedEOF, "the peer closed the connection instead of answering close_notify; the channel cannot return to cleartext")
            unwrapPromise?.fail(error)
            unwrapPromise = nil
            context.fireErrorCaught(error)
        case .unwrapped, .closing, .closed:
            break
        }
        state = .closed
        cancelVerification()
        cancelHandshakeTimer()
        cancelIdleTimer()
        dropStaged(TLSError(.closed, "the channel closed before the write was flushed"))
        for (_, promise) in buffered { promise?.fail(TLSError(.closed, "the channel closed before the handshake completed")) }
        buffered.removeAll()
        bufferedByteCount = 0
        context.fireChannelInactive()
    }

    /// Resumes a read held back while the outbound side was over its high-water mark.
    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, readHeld {
            readHeld = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Outbound

    /// Backpressure: while the channel is not writable (the peer is not reading what we send),
    /// no more input is read, so an echoing or answering application cannot be made to buffer
    /// without bound. The read goes through once the channel is writable again.
    public func read(context: ChannelHandlerContext) {
        if state != .unwrapped, !failing, !context.channel.isWritable {
            readHeld = true
            return
        }
        context.read()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        lastActivity = .now()
        switch state {
        case .handshaking:
            guard bufferedByteCount + bytes.readableBytes <= bufferLimit else {
                promise?.fail(
                    TLSError(
                        .invalidState,
                        "a write of \(bytes.readableBytes) bytes before the TLS handshake completed would buffer "
                            + "\(bufferedByteCount + bytes.readableBytes) bytes, over the handler's bufferLimit of \(bufferLimit); "
                            + "write after the handshakeCompleted event, or raise TLSChannelHandler.bufferLimit"))
                return
            }
            bufferedByteCount += bytes.readableBytes
            buffered.append((bytes, promise))
        case .active:
            // Small writes (an HTTP head, a short body, a protocol frame) wait for the flush and
            // go out as one record: one seal, one header and tag, one buffer for the channel.
            if bytes.readableBytes < Self.coalescingLimit, (staged?.readableBytes ?? 0) + bytes.readableBytes <= Self.maximumRecordPlaintext {
                stage(bytes, promise: promise)
                return
            }
            do {
                try sealStaged(context: context)
                try seal(bytes, context: context, promise: promise)
            } catch {
                promise?.fail(error)  // when sealStaged failed (seal fails it itself; a second fail is ignored)
                fail(context: context, error)
            }
        case .unwrapped:
            context.write(data, promise: promise)
        case .outputClosed, .unwrapping, .closing, .closed:
            promise?.fail(TLSError(.closed, "write after close_notify: the TLS connection is closed for writing"))
        }
    }

    public func flush(context: ChannelHandlerContext) {
        do { try sealStaged(context: context) } catch {
            fail(context: context, error)
            return
        }
        context.flush()
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .output, state == .active {
            // Half-closure: close_notify, then the TCP output; reading goes on.
            state = .outputClosed
            sendCloseNotify(context: context)
            context.close(mode: .output, promise: promise)
            return
        }
        if failing, mode == .all {
            // The alert of a fatal error is on its way; lingerAfterAlert closes the channel.
            if let promise { context.channel.closeFuture.cascade(to: promise) }
            return
        }
        guard mode == .all, state == .active else {
            context.close(mode: mode, promise: promise)
            return
        }
        state = .closing
        sendCloseNotify(context: context)
        state = .closed
        context.close(mode: mode, promise: promise)
    }
}
