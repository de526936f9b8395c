import TLSKit
import TLSKitTestSupport
import Testing

/// Lent buffers (`TLSBufferLending`, what the NIO handler and `TLSSocket` use to skip a copy
/// each way): the engine reads received bytes where they lie and seals records into the
/// caller's buffer, with exactly the effect of `receive` and `drainOutput`: same bytes, same
/// order, nothing lost when a loan ends in the middle of a record.
@Suite("Buffer lending")
struct BufferLendingTests {
    private func lender(_ connection: any TLSConnection) throws -> any TLSBufferLending {
        try #require(connection as? any TLSBufferLending, "\(type(of: connection)) takes no lent buffers")
    }

    private func storage(_ connection: any TLSConnection) throws -> Int {
        try #require(connection as? any TLSQueueStorageReporting).queueStorageByteCount
    }

    private func established(_ backend: BackendUnderTest, _ version: TLSProtocolVersion) throws -> ConnectionPair {
        var client = Fixtures.clientConfig()
        client.minimumVersion = version
        client.maximumVersion = version
        let pair = try backend.pair(client: client, server: Fixtures.serverConfig())
        try #require(pair.handshake())
        _ = try pair.readAll(pair.client)  // TLS 1.3: the server's tickets
        return pair
    }

    /// Whether `received` is `expected`, without printing kilobytes of both when not.
    private func intact(_ received: [UInt8], _ expected: [UInt8]) -> Bool { received == expected }

    /// Writes `message` on `connection` with `capacity` bytes of space lent: the bytes that
    /// landed in the space, and the write's result.
    private func writeLent(_ message: [UInt8], on connection: any TLSConnection, capacity: Int) throws -> (
        lent: [UInt8], written: Result<Int, TLSError>
    ) {
        var space = [UInt8](repeating: 0, count: capacity)
        var written: Result<Int, TLSError> = .success(0)
        let sealed = try space.withUnsafeMutableBytes { raw in
            try lender(connection).withLentOutput(raw) {
                written = Result { () throws(TLSError) in try connection.write(message) }
            }
        }
        return (Array(space[..<sealed]), written)
    }

    /// Whether the client reads exactly `expected` from `wire`.
    private func clientReads(_ expected: [UInt8], from wire: [UInt8], _ pair: ConnectionPair) throws -> Bool {
        try pair.client.receive(wire)
        return intact(try pair.readAll(pair.client), expected)
    }

    private static func message(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) } }

    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func recordsAreSealedIntoTheLentBufferAndNothingIsQueued(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        let pair = try established(backend, version)
        let message = Self.message(16_384)
        let (lent, written) = try writeLent(message, on: pair.server, capacity: tlsLentOutputCapacity(forPlaintext: message.count))
        #expect(try written.get() == message.count)
        #expect(lent.count > message.count)  // one record: the plaintext plus header and tag
        #expect(pair.server.pendingOutputByteCount == 0)
        #expect(try storage(pair.server) == 0)  // the queue never held the record
        #expect(try clientReads(message, from: lent, pair))
    }

    @Test(arguments: TestBackends.all)
    func outputThatDoesNotFitIsQueuedAfterTheLentPart(backend: BackendUnderTest) throws {
        let pair = try established(backend, .tls1_3)
        let message = Self.message(40_000)
        let (lent, written) = try writeLent(message, on: pair.server, capacity: 100)
        #expect(try written.get() == message.count)
        #expect(lent.count == 100)
        #expect(pair.server.pendingOutputByteCount > 40_000 - 100)
        #expect(try clientReads(message, from: lent + pair.server.drainOutput(), pair))
    }

    @Test(arguments: TestBackends.all)
    func outputQueuedBeforeALoanStaysFirst(backend: BackendUnderTest) throws {
        let pair = try established(backend, .tls1_3)
        let first = Self.message(500)
        let second = Array(Self.message(700).reversed())
        try pair.server.write(first)  // queued, not drained
        let (lent, _) = try writeLent(second, on: pair.server, capacity: 4_096)
        #expect(lent.isEmpty)  // the loan would have put the second record before the first
        #expect(try clientReads(first + second, from: pair.server.drainOutput(), pair))
    }

    @Test(arguments: TestBackends.all)
    func aLoanInsideALoanIsRefusedNotOverwritten(backend: BackendUnderTest) throws {
        let pair = try established(backend, .tls1_3)
        let server = try lender(pair.server)
        var outer = [UInt8](repeating: 0, count: 4_096)
        var inner = [UInt8](repeating: 0, count: 4_096)
        var innerSealed = -1
        let outerSealed = outer.withUnsafeMutableBytes { outerRaw in
            server.withLentOutput(outerRaw) {
                _ = try? pair.server.write(Self.message(300))
                innerSealed = inner.withUnsafeMutableBytes { innerRaw in
                    server.withLentOutput(innerRaw) { _ = try? pair.server.write(Self.message(200)) }
                }
            }
        }
        #expect(innerSealed == 0)
        #expect(outerSealed > 500)  // both records, in order, in the outer loan
        let wire = Array(outer[..<outerSealed]) + pair.server.drainOutput()
        #expect(try clientReads(Self.message(300) + Self.message(200), from: wire, pair))
    }

    /// Records split across loans at every kind of boundary: inside a header, inside a body,
    /// exactly between records. What a loan's reads leave is kept for the next one.
    @Test(arguments: TestBackends.all, [TLSProtocolVersion.tls1_2, .tls1_3])
    func lentInputIsReadInPlaceAndItsUnreadRestIsKept(backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        let message = Self.message(40_000)
        for cut in [1, 3, 5, 6, 1_000, 16_405, 16_406, 16_450, 30_000] {
            let pair = try established(backend, version)
            try pair.client.write(message)
            let records = pair.client.drainOutput()
            var received: [UInt8] = []
            var storageBeforeReading = -1
            for (index, part) in [records[..<cut], records[cut...]].enumerated() {
                try Array(part).withUnsafeBytes { raw in
                    try lender(pair.server).withLentInput(raw) {
                        if index == 0 { storageBeforeReading = (try? storage(pair.server)) ?? -1 }
                        received += (try? pair.readAll(pair.server)) ?? []
                    }
                }
            }
            #expect(storageBeforeReading == 0, "cut \(cut): the lent bytes were copied before the engine read them")
            let same = intact(received, message)
            #expect(same, "cut \(cut): \(received.count) of \(message.count) bytes")
            #expect(try storage(pair.server) == 0)
        }
    }

    @Test(arguments: TestBackends.all)
    func bytesReceivedDuringALoanComeAfterTheLentOnes(backend: BackendUnderTest) throws {
        let pair = try established(backend, .tls1_3)
        let message = Self.message(40_000)
        try pair.client.write(message)
        let records = pair.client.drainOutput()
        let server = try lender(pair.server)
        var received: [UInt8] = []
        try Array(records[..<20_000]).withUnsafeBytes { first in
            try server.withLentInput(first) {
                // Received in the middle of the loan (before the engine read a byte of it)...
                try? pair.server.receive(Array(records[20_000..<30_000]))
                // ...and lent in a loan of its own.
                try? Array(records[30_000...]).withUnsafeBytes { last in
                    try server.withLentInput(last) {}
                }
                received = (try? pair.readAll(pair.server)) ?? []
            }
        }
        let same = intact(received, message)
        #expect(same, "\(received.count) of \(message.count) bytes")
    }

    @Test(arguments: TestBackends.all)
    func unprocessedInputTakenDuringALoanIncludesTheLentBytes(backend: BackendUnderTest) throws {
        let pair = try established(backend, .tls1_3)
        let cleartext = Array("after TLS".utf8)
        var taken: [UInt8] = []
        try cleartext.withUnsafeBytes { raw in
            try lender(pair.server).withLentInput(raw) { taken = pair.server.takeUnprocessedInput() }
        }
        #expect(taken == cleartext)
        #expect(pair.server.takeUnprocessedInput().isEmpty)
    }

    @Test(arguments: TestBackends.all)
    func aFailedConnectionRefusesALoan(backend: BackendUnderTest) throws {
        let pair = try established(backend, .tls1_3)
        let garbage = [UInt8](repeating: 0x17, count: 64)  // not a valid record
        try garbage.withUnsafeBytes { raw in
            try lender(pair.server).withLentInput(raw) { _ = try? pair.readAll(pair.server) }
        }
        var ran = false
        #expect(throws: TLSError.self) {
            try garbage.withUnsafeBytes { raw in try lender(pair.server).withLentInput(raw) { ran = true } }
        }
        #expect(!ran)
    }
}
