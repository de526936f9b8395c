/// Where a drive loop stopped.
package enum TLSDriveOutcome<Value> {
    /// The operation finished with this value.
    case done(Value)
    /// The transport has no input now: call again once it is readable (or has new bytes).
    case wouldBlockOnRead
    /// The transport takes no output now: call again once it is writable.
    case wouldBlockOnWrite
    /// The handshake waits for this verification (the connection's driver opted in with
    /// `enableAsynchronousVerification()`): run it, complete it, then call again.
    case verificationPending(TLSPendingVerification)
}

/// The one loop every adapter drives the engine with (blocking and non-blocking sockets,
/// SwiftNIO), so that they move bytes, send alerts and stop in the same order. Compare
/// rustls' `complete_io`. `package`: for the adapters in this package.
///
/// `flush` sends the engine's pending output and returns `false` when the transport takes
/// no more now; `fill` hands the engine input (or the end of input) and returns `false` when
/// there is none now. A blocking transport blocks inside them and always returns `true`.
extension TLSConnection {
    /// Runs the handshake until it completes or the transport would block. Output is flushed
    /// before each step and after it; when the engine fails, what it queued (its alert, and
    /// anything before it) is flushed as far as the transport takes it, then the error is
    /// thrown.
    ///
    /// With `flushesOnFailure` false the caller sends the failure's output itself (SwiftNIO
    /// closes the channel only once the alert is written).
    package func driveHandshake(
        flushesOnFailure: Bool = true, flush: () throws(TLSError) -> Bool, fill: () throws(TLSError) -> Bool
    ) throws(TLSError) -> TLSDriveOutcome<Void> {
        while true {
            if try !flush() { return .wouldBlockOnWrite }
            let status: TLSHandshakeStatus
            do { status = try handshake() } catch {
                if flushesOnFailure { _ = try? flush() }
                throw error
            }
            if try !flush() { return .wouldBlockOnWrite }
            switch status {
            case .complete: return .done(())
            case .outputPending: continue
            case .needsInput: if try !fill() { return .wouldBlockOnRead }
            case .verificationPending:
                guard let pending = pendingVerification else {
                    throw TLSError(.internal, "the handshake reported a pending verification but none is pending")
                }
                return .verificationPending(pending)
            }
        }
    }

    /// Reads plaintext into `buffer`: `.done(.bytes(n))` with n ≥ 1, `.done(.closed)` after the
    /// peer's close_notify, or where the transport would block. Post-handshake messages the
    /// engine answers (a KeyUpdate, a ticket) are flushed before the read returns, as the
    /// sans-I/O contract asks; a failure flushes the alert before it is thrown.
    package func driveRead(
        into buffer: UnsafeMutableRawBufferPointer, flushesOnFailure: Bool = true,
        flush: () throws(TLSError) -> Bool, fill: () throws(TLSError) -> Bool
    ) throws(TLSError) -> TLSDriveOutcome<TLSReadResult> {
        while true {
            let result: TLSReadResult
            do { result = try read(into: buffer) } catch {
                if flushesOnFailure { _ = try? flush() }
                throw error
            }
            switch result {
            case .bytes:
                _ = try flush()
                return .done(result)
            case .closed:
                return .done(.closed)
            case .needsInput:
                if try !flush() { return .wouldBlockOnWrite }
                if try !fill() { return .wouldBlockOnRead }
            }
        }
    }
}
