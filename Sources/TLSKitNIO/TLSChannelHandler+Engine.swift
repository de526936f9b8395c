import NIOCore
import NIOTLS
import TLSKit

/// Driving the engine: the handshake, reading plaintext, writing records.
extension TLSChannelHandler {
    func advanceHandshake(context: ChannelHandlerContext) {
        guard state == .handshaking else { return }
        // Input comes in channelRead, so "fill" never has more now; writes always go out.
        let outcome: TLSDriveOutcome<Void>
        do {
            outcome = try connection.driveHandshake(
                flushesOnFailure: false,  // fail() writes the alert and closes once it is written
                flush: {
                    writeOutput(context: context, promise: nil)
                    return true
                }, fill: { false })
        } catch {
            fail(context: context, error)
            return
        }
        context.flush()
        switch outcome {
        case .wouldBlockOnRead, .wouldBlockOnWrite:
            return
        case .verificationPending(let pending):
            startVerification(pending, context: context)
        case .done:
            cancelHandshakeTimer()
            state = .active
            startIdleTimer(context: context)
            let alpn = connection.connectionInfo?.applicationProtocol.map { "\($0)" }
            context.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: alpn))
            let pending = buffered
            buffered.removeAll()
            bufferedByteCount = 0
            for (bytes, promise) in pending { write(context: context, data: wrapOutboundOut(bytes), promise: promise) }
            if !pending.isEmpty { flush(context: context) }
            readPlaintext(context: context)  // records that came with the last flight
        }
    }

    /// Runs an asynchronous verification policy off the event loop; its verdict comes back
    /// to the loop and the handshake goes on. Input arriving meanwhile is buffered by the
    /// engine. The handshake timer keeps running; once the handshake has ended (closed,
    /// failed, timed out) a late verdict is ignored and the task is cancelled.
    func startVerification(_ pending: TLSPendingVerification, context: ChannelHandlerContext) {
        guard verificationTask == nil else { return }  // already running (more input arrived)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        verificationTask = Task {
            let verdict = await pending.evaluate()
            loop.execute {
                let (handler, context) = bound.value
                handler.finishVerification(verdict, context: context)
            }
        }
    }

    /// On the event loop: hands the verdict to the engine and advances the handshake.
    func finishVerification(_ verdict: TLSVerificationVerdict, context: ChannelHandlerContext) {
        guard verificationTask != nil, state == .handshaking, storedContext != nil else { return }  // ended meanwhile
        verificationTask = nil
        do { try connection.completeVerification(verdict) } catch {
            fail(context: context, error)
            return
        }
        advanceHandshake(context: context)
    }

    /// The connection ended: a running verification is no longer wanted.
    func cancelVerification() {
        verificationTask?.cancel()
        verificationTask = nil
    }

    func readPlaintext(context: ChannelHandlerContext) {
        var delivered = false
        while true {
            // Reuse the last empty buffer: a read that finds nothing allocates nothing new.
            var buffer = readBuffer ?? context.channel.allocator.buffer(capacity: 16_384 + Self.copyAlignment)
            readBuffer = nil
            buffer.clear()
            buffer.alignStart(to: Self.copyAlignment)
            var outcome = TLSDriveOutcome<TLSReadResult>.wouldBlockOnRead
            var failure: TLSError?
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 16_384) { raw in
                let step = Result { () throws(TLSError) in
                    try connection.driveRead(
                        into: raw, flushesOnFailure: false,
                        flush: {
                            writeOutput(context: context, promise: nil)
                            return true
                        },
                        fill: { false })
                }
                switch step {
                case .success(let result):
                    outcome = result
                    if case .done(.bytes(let n)) = result { return n }
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
            case .done(.bytes):
                delivered = true
                context.fireChannelRead(wrapInboundOut(buffer))
            case .wouldBlockOnRead, .wouldBlockOnWrite, .verificationPending, .done(.needsInput):
                readBuffer = buffer
                if delivered { context.fireChannelReadComplete() }
                context.flush()
                return
            case .done(.closed):
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
                case .handshaking, .unwrapped, .closing, .closed:
                    break
                }
                return
            }
        }
    }

    /// Writes below this size are staged and sealed together at the next flush. Larger ones
    /// are sealed as they come (no copy into the staging buffer). 2 KiB also keeps the staging
    /// copies below glibc's `rep movsb` threshold, which is slow on some AMD CPUs when source
    /// and destination differ in alignment.
    static let coalescingLimit = 2_048

    /// The most plaintext one TLS record carries (RFC 8446 §5.1): staging stops there.
    static let maximumRecordPlaintext = 16_384

    /// Where the engine copies into the handler's buffers (plaintext it reads, records it
    /// seals), they start on a 64-byte boundary. glibc's `memcpy` uses `rep movsb` for copies
    /// of a record's size, and on some x86 CPUs (the AMD EPYC of `Benchmarks/`) that runs at
    /// about 3 GB/s instead of 40-90 GB/s unless the destination is 64-byte aligned or alike in
    /// alignment with the source (`Benchmarks/reference/memcpy_alignment.c`). The engine's own
    /// buffers put a record's payload on an 8-byte boundary, so without this the copies were
    /// slow or fast depending on where malloc put each buffer.
    static let copyAlignment = 64

    /// Holds a small write for the next flush. The first write's buffer is kept as it is;
    /// the next one copies both into the staging buffer (copy-on-write).
    func stage(_ bytes: ByteBuffer, promise: EventLoopPromise<Void>?) {
        if var current = staged {
            staged = nil  // unique, so the append does not copy twice
            current.writeImmutableBuffer(bytes)
            staged = current
        } else {
            staged = bytes
        }
        if let promise {
            if let first = stagedPromise { first.futureResult.cascade(to: promise) } else { stagedPromise = promise }
        }
    }

    /// Seals the staged writes as one record and hands it to the channel (unflushed).
    func sealStaged(context: ChannelHandlerContext) throws(TLSError) {
        guard let bytes = staged else { return }
        staged = nil
        let promise = stagedPromise
        stagedPromise = nil
        try seal(bytes, context: context, promise: promise)
    }

    /// Encrypts `bytes` and hands the records to the channel (unflushed); `promise` completes
    /// with the write of the last of them, or fails with the engine's error (thrown as well).
    /// With a lending engine the records are sealed straight into the buffer the channel
    /// gets, not into the engine's queue and then copied out.
    func seal(_ bytes: ByteBuffer, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) throws(TLSError) {
        guard let lender, connection.pendingOutputByteCount == 0 else {
            do {
                _ = try bytes.withUnsafeReadableBytes { (raw) throws(TLSError) in try connection.write(raw) }
            } catch {
                promise?.fail(error)
                throw error
            }
            writeOutput(context: context, promise: promise)
            return
        }
        var failure: TLSError?
        let capacity = tlsLentOutputCapacity(forPlaintext: bytes.readableBytes)
        var records = context.channel.allocator.buffer(capacity: capacity + Self.copyAlignment)
        records.alignStart(to: Self.copyAlignment)
        records.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { space in
            lender.withLentOutput(space) {
                let written = bytes.withUnsafeReadableBytes { raw in Result { () throws(TLSError) in try connection.write(raw) } }
                if case .failure(let error) = written { failure = error }
            }
        }
        if let failure {
            // What the engine wrote before failing (an alert, perhaps) goes out now: fail()
            // lingers only for output still in the engine's queue.
            if records.readableBytes > 0 {
                context.write(wrapOutboundOut(records), promise: nil)
                context.flush()
            }
            promise?.fail(failure)
            throw failure
        }
        let rest = connection.pendingOutputByteCount > 0
        if records.readableBytes > 0 { context.write(wrapOutboundOut(records), promise: rest ? nil : promise) }
        if rest || records.readableBytes == 0 { writeOutput(context: context, promise: promise) }
    }

    /// Fails the staged writes (the connection ends before they were flushed).
    func dropStaged(_ error: TLSError) {
        staged = nil
        stagedPromise?.fail(error)
        stagedPromise = nil
    }

    /// Moves every pending TLS byte into the channel, in one buffer per drain.
    func writeOutput(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
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
}

extension ByteBuffer {
    /// Moves an empty buffer's start to the next `alignment`-byte boundary of its storage
    /// (using at most `alignment - 1` bytes of its capacity).
    mutating func alignStart(to alignment: Int) {
        guard readableBytes == 0 else { return }
        let address = withUnsafeMutableWritableBytes { UInt(bitPattern: $0.baseAddress) }
        let pad = Int((UInt(alignment) - address % UInt(alignment)) % UInt(alignment))
        guard pad > 0, writableBytes > pad else { return }
        moveWriterIndex(forwardBy: pad)
        moveReaderIndex(forwardBy: pad)
    }
}
