import NIOCore
import TLSKit

/// Timers, closing and failing: how a connection ends.
extension TLSChannelHandler {
    func startHandshakeTimer(context: ChannelHandlerContext) {
        guard let timeout = handshakeTimeout, handshakeTimer == nil, state == .handshaking else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            guard handler.state == .handshaking else { return }
            let seconds = Double(timeout.nanoseconds) / 1e9
            handler.fail(
                context: context,
                TLSError(
                    .timeout,
                    "the TLS handshake did not complete within \(seconds) s (the peer is silent, slow or not speaking TLS); "
                        + "the connection was closed — raise handshakeTimeout if the peer is legitimately slow"))
        }
    }

    func cancelHandshakeTimer() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
    }

    /// Arms the idle timer for `lastActivity + idleTimeout`; when it fires early (there was
    /// activity meanwhile) it re-arms itself, so activity costs no timer operations.
    func startIdleTimer(context: ChannelHandlerContext) {
        guard let timeout = idleTimeout else { return }
        lastActivity = .now()
        scheduleIdleCheck(context: context, timeout: timeout)
    }

    func scheduleIdleCheck(context: ChannelHandlerContext, timeout: TimeAmount) {
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

    func cancelIdleTimer() {
        idleTimer?.cancel()
        idleTimer = nil
    }

    /// Queues our close_notify and pushes it out. A shutdown error is not reported here: the
    /// connection is ending either way, and a failed send shows up as the channel's own error.
    func sendCloseNotify(context: ChannelHandlerContext) {
        // Writes staged before the close go out before the close_notify.
        do { try sealStaged(context: context) } catch { dropStaged(error) }
        _ = try? connection.shutdown()
        writeOutput(context: context, promise: nil)
        context.flush()
    }

    /// Ends the connection after a fatal error. Whatever the engine queued goes out first —
    /// the alert that tells the peer why, and anything queued before it (a TLS 1.3
    /// NewSessionTicket, the rest of a flight) — and the channel closes once those bytes
    /// are written (then our output closes, and the channel once the peer closes, within
    /// ``lingerPeriod``), or after ``alertGracePeriod`` if the peer does not take them.
    func fail(context: ChannelHandlerContext, _ error: TLSError) {
        guard state != .closed else { return }
        cancelVerification()
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
        dropStaged(error)
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
    func lingerAfterAlert(context: ChannelHandlerContext) {
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
