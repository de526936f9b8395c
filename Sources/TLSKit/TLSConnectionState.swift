/// The sans-I/O contract every backend's connection enforces, in one place: the sticky
/// error, the handshake, the end of input and our close_notify, with the same error for the
/// same misuse whichever backend is underneath. `package`: for backends, not public API.
///
/// Each `check…` method throws the sticky error first, then the misuse error of that call.
package struct TLSConnectionState: Sendable {
    /// The first fatal error; every later call throws it again.
    @TLSIndirect package private(set) var error: TLSError?
    /// The handshake completed.
    package private(set) var handshakeDone = false
    /// `receiveEndOfInput()` was called: the transport ended.
    package private(set) var inputEnded = false
    /// Our close_notify was queued (or the connection was closed before its handshake).
    package private(set) var closeSent = false

    package init() {}

    /// Records `error` as the sticky error unless one is already recorded; returns the
    /// sticky error (the first one), which the caller throws.
    @discardableResult
    package mutating func fail(_ error: TLSError) -> TLSError {
        if let existing = self.error { return existing }
        self.error = error
        return error
    }

    package mutating func markHandshakeDone() { handshakeDone = true }
    package mutating func markCloseSent() { closeSent = true }
    /// Returns `false` when input had already ended.
    package mutating func markInputEnded() -> Bool {
        defer { inputEnded = true }
        return !inputEnded
    }

    /// Throws the sticky error, if any.
    package func checkUsable() throws(TLSError) {
        if let error { throw error }
    }

    /// Before `receive(_:)`.
    package func checkReceive() throws(TLSError) {
        try checkUsable()
        guard !inputEnded else {
            throw TLSError(.invalidState, "receive(_:) after receiveEndOfInput(): the transport has already ended")
        }
    }

    /// Before `read(into:)`: returns the buffer's start.
    package func checkRead(_ buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> UnsafeMutableRawPointer {
        try checkUsable()
        guard handshakeDone else {
            throw TLSError(.invalidState, "read(into:) before the handshake completed; call handshake() first")
        }
        guard let base = buffer.baseAddress, buffer.count > 0 else {
            throw TLSError(.invalidState, "read(into:) needs a buffer of at least one byte")
        }
        return base
    }

    /// Before `write(_:)`.
    package func checkWrite() throws(TLSError) {
        try checkUsable()
        guard handshakeDone else {
            throw TLSError(.invalidState, "write(_:) before the handshake completed; call handshake() first")
        }
        guard !closeSent else { throw TLSError(.closed, "write(_:) after shutdown(): close_notify was already sent") }
    }

    /// Before `updateKeys(requestingPeerUpdate:)`; `isTLS13` is the negotiated version's test.
    package func checkKeyUpdate(isTLS13: Bool) throws(TLSError) {
        try checkUsable()
        guard handshakeDone, !closeSent, isTLS13 else {
            throw TLSError(.invalidState, "updateKeys(requestingPeerUpdate:) needs an open TLS 1.3 connection after the handshake")
        }
    }
}

extension TLSServerName {
    /// The name a client connection verifies: the one given to `makeConnection`, else the
    /// configuration's; throws when there is neither.
    package static func resolve(_ given: TLSServerName?, configured: TLSServerName?) throws(TLSError) -> TLSServerName {
        guard let name = given ?? configured else { throw .serverNameMissing }
        return name
    }
}
