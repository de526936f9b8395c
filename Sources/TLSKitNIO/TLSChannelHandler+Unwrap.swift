public import NIOCore
import TLSKit

/// STARTTLS reversal: back to cleartext on the same channel.
extension TLSChannelHandler {
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
            promise?.fail(
                TLSError(.invalidState, "stopTLS: the handler is not in a channel pipeline; call it on a handler that was added to the channel"))
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
        case .handshaking, .outputClosed, .unwrapping, .unwrapped, .closing, .closed:
            promise?.fail(
                TLSError(
                    .invalidState,
                    "stopTLS needs an established TLS connection: the handshake has not completed, or the connection is closing; call it after the handshakeCompleted event and before close"
                ))
        }
    }

    func finishUnwrap(context: ChannelHandlerContext) {
        state = .unwrapped
        let promise = unwrapPromise
        unwrapPromise = nil
        let removed = context.eventLoop.makePromise(of: Void.self)
        removed.futureResult.cascade(to: promise)
        context.pipeline.syncOperations.removeHandler(context: context, promise: removed)
    }
}
