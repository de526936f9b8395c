public import NIOCore
import NIOTLS
public import TLSKit

/// A SwiftNIO channel handler that drives any backend's sans-I/O `TLSConnection`:
/// ciphertext `ByteBuffer`s from the network in, plaintext `ByteBuffer`s up the pipeline,
/// and the reverse for writes.
///
/// - Writes made before the handshake completes are buffered and sent after it.
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

    private enum State {
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

    private let connection: any TLSConnection
    private var state = State.handshaking
    private var buffered: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var readBuffer: ByteBuffer?
    private let handshakeTimeout: TimeAmount?
    private var handshakeTimer: Scheduled<Void>?
    private var storedContext: ChannelHandlerContext?
    private var unwrapPromise: EventLoopPromise<Void>?
    /// Bytes held in `buffered`.
    private var bufferedByteCount = 0
    /// Ciphertext received after the peer's close_notify.
    private var inputAfterCloseNotify = 0
    /// A `read()` held back while the channel was not writable.
    private var readHeld = false
    private var idleTimer: Scheduled<Void>?
    private var lastActivity = NIODeadline.now()
    /// A fatal error's alert is being written, or was written and our output closed: input is
    /// read and dropped (see `lingerAfterAlert`), and the application's close waits for that.
    private var failing = false

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
        cancelHandshakeTimer()
        cancelIdleTimer()
        storedContext = nil
    }

    /// Passes on the cleartext that followed the peer's close_notify when ``stopTLS(promise:)``
    /// removes the handler.
    public func removeHandler(context: ChannelHandlerContext, removalToken: ChannelHandlerContext.RemovalToken) {
        if state == .unwrapped {
            let leftover = connection.takeUnprocessedInput()
            if !leftover.isEmpty {
                context.fireChannelRead(wrapInboundOut(context.channel.allocator.buffer(bytes: leftover)))
                context.fireChannelReadComplete()
            }
        }
        context.leavePipeline(removalToken: removalToken)
    }

    /// Ends TLS on this channel and returns it to cleartext (STARTTLS reversal, e.g. FTP's CCC):
    /// sends close_notify, waits for the peer's, then removes this handler from the pipeline.
    /// Plaintext the peer sent before its close_notify is delivered as usual; cleartext it sent
    /// after is passed up the pipeline before `promise` succeeds. If the peer already sent
    /// close_notify (an `inputClosed` event), the handler is removed at once.
    ///
    /// Fails the promise with `TLSError.Code.invalidState` before the handshake has completed
    /// or after close, and with `TLSError.Code.raggedEOF` if the peer hangs up instead of
    /// answering. Thread-safety: call it on the channel's event loop.
    public func stopTLS(promise: EventLoopPromise<Void>?) {
        guard let context = storedContext else {
            promise?.fail(TLSError(.invalidState, "stopTLS: the handler is not in a channel pipeline; call it on a handler that was added to the channel"))
            return
        }
        context.eventLoop.preconditionInEventLoop()
        switch state {
        case .active:
            state = .unwrapping
            unwrapPromise = promise
            sendCloseNotify(context: context)
            readPlaintext(context: context)  // the peer's close_notify may already be here
        case .closing where context.channel.isActive:
            unwrapPromise = promise
            finishUnwrap(context: context)
        default:
            promise?.fail(TLSError(
                .invalidState, "stopTLS needs an established TLS connection: the handshake has not completed, or the connection is closing; call it after the handshakeCompleted event and before close"))
        }
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
                fail(context: context, TLSError(
                    .protocolViolation,
                    "the peer sent more than \(bufferLimit) bytes after its close_notify (the handler's bufferLimit); "
                        + "nothing may follow close_notify but cleartext for stopTLS — raise bufferLimit if the protocol sends more before stopTLS runs"))
                return
            }
        }
        do {
            try bytes.withUnsafeReadableBytes { (raw) throws(TLSError) in try connection.receive(raw) }
        } catch {
            fail(context: context, error)
            return
        }
        switch state {
        case .handshaking: advanceHandshake(context: context)
        case .active, .outputClosed, .unwrapping, .closing: readPlaintext(context: context)
        case .unwrapped, .closed: break
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if state == .active || state == .outputClosed || state == .handshaking {
            connection.receiveEndOfInput()
            if state == .handshaking { advanceHandshake(context: context) } else { readPlaintext(context: context) }
        }
        if state == .unwrapping {
            let error = TLSError(.raggedEOF, "the peer closed the connection instead of answering close_notify; the channel cannot return to cleartext")
            unwrapPromise?.fail(error)
            unwrapPromise = nil
            context.fireErrorCaught(error)
        }
        state = .closed
        cancelHandshakeTimer()
        cancelIdleTimer()
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
                promise?.fail(TLSError(
                    .invalidState,
                    "a write of \(bytes.readableBytes) bytes before the TLS handshake completed would buffer "
                        + "\(bufferedByteCount + bytes.readableBytes) bytes, over the handler's bufferLimit of \(bufferLimit); "
                        + "write after the handshakeCompleted event, or raise TLSChannelHandler.bufferLimit"))
                return
            }
            bufferedByteCount += bytes.readableBytes
            buffered.append((bytes, promise))
        case .active:
            do {
                _ = try bytes.withUnsafeReadableBytes { (raw) throws(TLSError) in try connection.write(raw) }
                writeOutput(context: context, promise: promise)
            } catch {
                promise?.fail(error)
                fail(context: context, error)
            }
        case .unwrapped:
            context.write(data, promise: promise)
        case .outputClosed, .unwrapping, .closing, .closed:
            promise?.fail(TLSError(.closed, "write after close_notify: the TLS connection is closed for writing"))
        }
    }

    public func flush(context: ChannelHandlerContext) {
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

    // MARK: Engine steps

    private func advanceHandshake(context: ChannelHandlerContext) {
        guard state == .handshaking else { return }
        while true {
            let status: TLSHandshakeStatus
            do { status = try connection.handshake() } catch {
                fail(context: context, error)  // writes the alert (and what came before it) first
                return
            }
            writeOutput(context: context, promise: nil)
            switch status {
            case .outputPending:
                continue
            case .needsInput:
                context.flush()
                return
            case .complete:
                context.flush()
                cancelHandshakeTimer()
                state = .active
                startIdleTimer(context: context)
                let alpn = connection.connectionInfo?.applicationProtocol.map { "\($0)" }
                context.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: alpn))
                let pending = buffered
                buffered.removeAll()
                bufferedByteCount = 0
                for (bytes, promise) in pending { write(context: context, data: wrapOutboundOut(bytes), promise: promise) }
                if !pending.isEmpty { context.flush() }
                readPlaintext(context: context)  // records that came with the last flight
                return
            }
        }
    }

    private func readPlaintext(context: ChannelHandlerContext) {
        var delivered = false
        while true {
            // Reuse the last empty buffer: a read that finds nothing allocates nothing new.
            var buffer = readBuffer ?? context.channel.allocator.buffer(capacity: 16_384)
            readBuffer = nil
            buffer.clear()
            var outcome = TLSReadResult.needsInput
            var failure: TLSError?
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 16_384) { raw in
                switch Result(catching: { () throws(TLSError) in try connection.read(into: raw) }) {
                case .success(let result):
                    outcome = result
                    if case .bytes(let n) = result { return n }
                case .failure(let error):
                    failure = error
                }
                return 0
            }
            if let failure {
                if delivered { context.fireChannelReadComplete() }
                fail(context: context, failure)
                return
            }
            switch outcome {
            case .bytes:
                delivered = true
                context.fireChannelRead(wrapInboundOut(buffer))
            case .needsInput:
                readBuffer = buffer
                if delivered { context.fireChannelReadComplete() }
                writeOutput(context: context, promise: nil)
                context.flush()
                return
            case .closed:
                if delivered { context.fireChannelReadComplete() }
                switch state {
                case .active:
                    // Answer the peer's close_notify, then tell the pipeline no more input comes.
                    state = .closing
                    sendCloseNotify(context: context)
                    context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
                case .outputClosed:
                    state = .closing
                    context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
                case .unwrapping:
                    finishUnwrap(context: context)
                default:
                    break
                }
                return
            }
        }
    }

    /// Moves every pending TLS byte into the channel, in one buffer per drain.
    private func writeOutput(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        var promise = promise
        while connection.pendingOutputByteCount > 0 {
            var buffer = context.channel.allocator.buffer(capacity: connection.pendingOutputByteCount)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: connection.pendingOutputByteCount) { raw in
                connection.drainOutput(into: raw)
            }
            context.write(wrapOutboundOut(buffer), promise: connection.pendingOutputByteCount == 0 ? promise : nil)
            if connection.pendingOutputByteCount == 0 { promise = nil }
        }
        promise?.succeed(())
    }

    private func startHandshakeTimer(context: ChannelHandlerContext) {
        guard let timeout = handshakeTimeout, handshakeTimer == nil, state == .handshaking else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            guard handler.state == .handshaking else { return }
            let seconds = Double(timeout.nanoseconds) / 1e9
            handler.fail(context: context, TLSError(
                .timeout,
                "the TLS handshake did not complete within \(seconds) s (the peer is silent, slow or not speaking TLS); "
                    + "the connection was closed — raise handshakeTimeout if the peer is legitimately slow"))
        }
    }

    private func cancelHandshakeTimer() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
    }

    /// Arms the idle timer for `lastActivity + idleTimeout`; when it fires early (there was
    /// activity meanwhile) it re-arms itself, so activity costs no timer operations.
    private func startIdleTimer(context: ChannelHandlerContext) {
        guard let timeout = idleTimeout else { return }
        lastActivity = .now()
        scheduleIdleCheck(context: context, timeout: timeout)
    }

    private func scheduleIdleCheck(context: ChannelHandlerContext, timeout: TimeAmount) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(deadline: lastActivity + timeout) {
            let (handler, context) = bound.value
            handler.idleTimer = nil
            guard handler.state == .active || handler.state == .outputClosed else { return }
            if NIODeadline.now() < handler.lastActivity + timeout {
                handler.scheduleIdleCheck(context: context, timeout: timeout)
                return
            }
            let seconds = Double(timeout.nanoseconds) / 1e9
            let error = TLSError(
                .timeout,
                "the connection was idle (no input, no writes) for \(seconds) s after the handshake and was closed; "
                    + "raise or clear TLSChannelHandler.idleTimeout if long silences are expected")
            if handler.state == .active { handler.sendCloseNotify(context: context) }
            handler.state = .closed
            context.fireErrorCaught(error)
            context.close(promise: nil)
        }
    }

    private func cancelIdleTimer() {
        idleTimer?.cancel()
        idleTimer = nil
    }

    /// Queues our close_notify and pushes it out. A shutdown error is not reported here: the
    /// connection is ending either way, and a failed send shows up as the channel's own error.
    private func sendCloseNotify(context: ChannelHandlerContext) {
        _ = try? connection.shutdown()
        writeOutput(context: context, promise: nil)
        context.flush()
    }

    private func finishUnwrap(context: ChannelHandlerContext) {
        state = .unwrapped
        let promise = unwrapPromise
        unwrapPromise = nil
        let removed = context.eventLoop.makePromise(of: Void.self)
        removed.futureResult.cascade(to: promise)
        context.pipeline.syncOperations.removeHandler(context: context, promise: removed)
    }

    /// Ends the connection after a fatal error. Whatever the engine queued goes out first —
    /// the alert that tells the peer why, and anything queued before it (a TLS 1.3
    /// NewSessionTicket, the rest of a flight) — and the channel closes once those bytes
    /// are written (then our output closes, and the channel once the peer closes, within
    /// ``lingerPeriod``), or after ``alertGracePeriod`` if the peer does not take them.
    private func fail(context: ChannelHandlerContext, _ error: TLSError) {
        guard state != .closed else { return }
        cancelHandshakeTimer()
        cancelIdleTimer()
        state = .closed
        // Written and flushed before the error travels up the pipeline, so a handler that
        // closes the channel in errorCaught still closes after the alert.
        var written: EventLoopFuture<Void>?
        if context.channel.isActive, connection.pendingOutputByteCount > 0 {
            let promise = context.eventLoop.makePromise(of: Void.self)
            failing = true
            writeOutput(context: context, promise: promise)
            context.flush()
            written = promise.futureResult
        }
        unwrapPromise?.fail(error)
        unwrapPromise = nil
        for (_, promise) in buffered { promise?.fail(error) }
        buffered.removeAll()
        bufferedByteCount = 0
        context.fireErrorCaught(error)
        guard let written else {
            context.close(promise: nil)
            return
        }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let deadline = context.eventLoop.scheduleTask(in: Self.alertGracePeriod) { bound.value.close(promise: nil) }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        written.whenComplete { result in
            deadline.cancel()
            guard case .success = result else { return bound.value.close(promise: nil) }
            handler.value.lingerAfterAlert(context: bound.value)
        }
    }

    /// Once the alert is written: closes our output (FIN after the alert), then reads and drops
    /// input until the peer closes, for at most ``lingerPeriod``, before closing the channel.
    /// Closing at once would make the kernel answer bytes the peer sent after the offending
    /// record (the rest of its flight) with a TCP reset, and a reset can destroy the alert
    /// in the peer's receive buffer before the peer reads it. (`openssl s_server` does the same.)
    private func lingerAfterAlert(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.close(mode: .output).whenFailure { _ in bound.value.close(promise: nil) }
        let timer = context.eventLoop.scheduleTask(in: Self.lingerPeriod) { bound.value.close(promise: nil) }
        context.channel.closeFuture.whenComplete { _ in timer.cancel() }
        context.read()
    }

    /// How long a failed connection goes on reading (and dropping) the peer's input after its
    /// alert, so that input does not reset the connection before the peer has read the alert.
    static let lingerPeriod = TimeAmount.milliseconds(500)

    /// How long a failed connection waits for its alert to be written before closing anyway
    /// (a peer that does not read cannot hold the channel open).
    static let alertGracePeriod = TimeAmount.seconds(2)
}
