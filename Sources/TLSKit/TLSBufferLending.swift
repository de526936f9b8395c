/// A connection whose queues a driver can bypass with buffers it lends for the length of a
/// call, saving one copy of every byte each way:
/// - input: the engine reads the network bytes where they lie (a SwiftNIO `ByteBuffer`)
///   instead of from its own copy of them;
/// - output: the engine's records land in the driver's outbound buffer instead of its queue
///   (from which ``TLSConnection/drainOutput(into:)`` would copy them out again).
///
/// Both have the same effect as the calls they stand for; only what was copied differs.
/// `package`: the adapters (TLSKitNIO, TLSKitIO) use it; an application gains nothing a
/// copy-free public API would justify over ``TLSConnection``.
package protocol TLSBufferLending: AnyObject {
    /// The same as ``TLSConnection/receive(_:)`` of `bytes` followed by `body`: during `body`
    /// the engine reads `bytes` in place (after any input it queued before), and what it has
    /// not read when `body` returns is copied into its queue. `bytes` must stay valid and
    /// unchanged until then. Receiving during `body` settles the loan first.
    ///
    /// - Throws: what ``TLSConnection/receive(_:)`` throws (then `body` does not run), or an
    ///   out-of-memory error when the unread rest could not be queued.
    func withLentInput(_ bytes: UnsafeRawBufferPointer, _ body: () -> Void) throws(TLSError)

    /// Runs `body` with `buffer` as the place the engine's output goes while nothing else is
    /// queued: output that does not fit is queued after it. Send the bytes counted by the
    /// result first, then what ``TLSConnection/drainOutput(into:)`` yields. `body` must not
    /// drain output.
    ///
    /// - Returns: how many bytes at the start of `buffer` are output.
    func withLentOutput(_ buffer: UnsafeMutableRawBufferPointer, _ body: () -> Void) -> Int
}

/// How much room to lend for the records of `plaintext` bytes of application data:
/// the bytes plus each record's header, explicit nonce, padding and tag (at most 64 per
/// 16 KiB record for every suite TLSKit negotiates), plus room for a small record before them
/// (a KeyUpdate reply). What does not fit is queued, so this is a size, not a bound.
package func tlsLentOutputCapacity(forPlaintext plaintext: Int) -> Int {
    plaintext + (plaintext / 16_384 + 1) * 64 + 64
}
