public import NIOCore
import NIOTLS
public import TLSKit

/// A SwiftNIO channel handler that drives any backend's sans-I/O ``TLSConnection``:
/// ciphertext `ByteBuffer`s from the network in, plaintext `ByteBuffer`s up the pipeline,
/// and the reverse for writes.
///
/// - Writes made before the handshake completes are buffered and sent after it.
/// - When the handshake completes it fires NIOTLS's
///   `TLSUserEvent.handshakeCompleted(negotiatedProtocol:)`, so existing ALPN helpers work.
/// - Closing sends close_notify first. A peer that hangs up without close_notify is
///   reported with `errorCaught(TLSError(.raggedEOF))`.
/// - A handshake that has not completed within `handshakeTimeout` of the channel becoming
///   active ends with `errorCaught(TLSError(.timeout))` and the channel closed, so a peer that
///   connects and stays silent cannot hold a connection open for ever.
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
        case closing
        case closed
    }

    private let connection: any TLSConnection
    private var state = State.handshaking
    private var buffered: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var readBuffer: ByteBuffer?
    private let handshakeTimeout: TimeAmount?
    private var handshakeTimer: Scheduled<Void>?

    /// A handler for one connection (make it with a context's `makeConnection`).
    ///
    /// - Parameter handshakeTimeout: how long the handshake may take, counted from the channel
    ///   becoming active; `nil` waits for ever. Default 30 seconds (as TLSKitIO's `TLSSocket`).
    public init(connection: any TLSConnection, handshakeTimeout: TimeAmount? = .seconds(30)) {
        self.connection = connection
        self.handshakeTimeout = handshakeTimeout
    }

    /// A client-side handler verifying `serverName` (a DNS name or an IP address).
    ///
    /// - Parameter handshakeTimeout: see ``init(connection:handshakeTimeout:)``; default 30 s.
    public convenience init(context: any TLSClientContext, serverName: String, handshakeTimeout: TimeAmount? = .seconds(30)) throws {
        self.init(connection: try context.makeConnection(serverName: try TLSServerName(serverName)), handshakeTimeout: handshakeTimeout)
    }

    /// A server-side handler.
    ///
    /// - Parameter handshakeTimeout: see ``init(connection:handshakeTimeout:)``; default 30 s.
    public convenience init(context: any TLSServerContext, handshakeTimeout: TimeAmount? = .seconds(30)) throws {
        self.init(connection: try context.makeConnection(), handshakeTimeout: handshakeTimeout)
    }

    /// What the handshake negotiated, once it has completed.
    public var connectionInfo: TLSConnectionInfo? { connection.connectionInfo }

    // MARK: Inbound

    public func handlerAdded(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        startHandshakeTimer(context: context)
        if connection.side == .client { advanceHandshake(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelHandshakeTimer()
    }

    public func channelActive(context: ChannelHandlerContext) {
        startHandshakeTimer(context: context)
        if connection.side == .client { advanceHandshake(context: context) }
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        do {
            try bytes.withUnsafeReadableBytes { (raw) throws(TLSError) in try connection.receive(raw) }
        } catch {
            fail(context: context, error)
            return
        }
        switch state {
        case .handshaking: advanceHandshake(context: context)
        case .active, .closing: readPlaintext(context: context)
        case .closed: break
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if state == .active || state == .handshaking {
            connection.receiveEndOfInput()
            if state == .active { readPlaintext(context: context) } else { advanceHandshake(context: context) }
        }
        state = .closed
        cancelHandshakeTimer()
        for (_, promise) in buffered { promise?.fail(TLSError(.closed, "the channel closed before the handshake completed")) }
        buffered.removeAll()
        context.fireChannelInactive()
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        switch state {
        case .handshaking:
            buffered.append((bytes, promise))
        case .active:
            do {
                _ = try bytes.withUnsafeReadableBytes { (raw) throws(TLSError) in try connection.write(raw) }
                writeOutput(context: context, promise: promise)
            } catch {
                promise?.fail(error)
                fail(context: context, error)
            }
        case .closing, .closed:
            promise?.fail(TLSError(.closed, "write after close"))
        }
    }

    public func flush(context: ChannelHandlerContext) {
        context.flush()
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all, state == .active else {
            context.close(mode: mode, promise: promise)
            return
        }
        state = .closing
        _ = try? connection.shutdown()
        writeOutput(context: context, promise: nil)
        context.flush()
        state = .closed
        context.close(mode: mode, promise: promise)
    }

    // MARK: Engine steps

    private func advanceHandshake(context: ChannelHandlerContext) {
        guard state == .handshaking else { return }
        while true {
            let status: TLSHandshakeStatus
            do { status = try connection.handshake() } catch {
                writeOutput(context: context, promise: nil)
                context.flush()
                fail(context: context, error)
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
                let alpn = connection.connectionInfo?.applicationProtocol.map { "\($0)" }
                context.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: alpn))
                let pending = buffered
                buffered.removeAll()
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
                if state == .active {
                    // Answer the peer's close_notify, then tell the pipeline no more input comes.
                    state = .closing
                    _ = try? connection.shutdown()
                    writeOutput(context: context, promise: nil)
                    context.flush()
                    context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
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

    private func fail(context: ChannelHandlerContext, _ error: TLSError) {
        guard state != .closed else { return }
        cancelHandshakeTimer()
        state = .closed
        for (_, promise) in buffered { promise?.fail(error) }
        buffered.removeAll()
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}
