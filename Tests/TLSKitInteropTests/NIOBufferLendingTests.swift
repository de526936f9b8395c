import NIOCore
import NIOEmbedded
import TLSKit
import TLSKitNIO
import TLSKitTestSupport
import Testing

/// TLSChannelHandler lends its ByteBuffers to the engine (records are read where NIO put
/// them and sealed into the buffer the channel gets). Whatever way the input is cut and
/// whatever the engine queued before, the plaintext arrives whole and in order.
@Suite("SwiftNIO adapter: lent buffers")
struct NIOBufferLendingTests {
    typealias Link = NIOWriteCoalescingTests.Link

    private static func message(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) } }

    /// The plaintext the server handler passed up the pipeline.
    private func inbound(_ link: Link) throws -> [UInt8] {
        var out: [UInt8] = []
        while let buffer = try link.channel.readInbound(as: ByteBuffer.self) { out += buffer.readableBytesView }
        return out
    }

    /// Whether the client decrypts exactly `expected` from the server's `wire`.
    private func clientReads(_ expected: [UInt8], from wire: [UInt8], _ link: Link) throws -> Bool {
        let (plaintext, _) = try link.plaintext(wire)
        return plaintext == expected
    }

    @Test(arguments: TestBackends.all)
    func inputCutAnywhereArrivesWhole(backend: BackendUnderTest) throws {
        let link = try Link(backend: backend)
        let message = Self.message(70_000)  // five records
        try link.client.write(message)
        let wire = link.client.drainOutput()
        // Inside a header, inside a body, across two records, one byte at a time, the rest.
        var offset = 0
        var received: [UInt8] = []
        for size in [1, 2, 2, 9_000, 16_000, 1, 1, 1, 30_000, 7] + [wire.count] {
            let end = min(wire.count, offset + size)
            guard offset < end else { break }
            try link.channel.writeInbound(ByteBuffer(bytes: wire[offset..<end]))
            received += try inbound(link)
            offset = end
        }
        let same = received == message
        #expect(same, "\(received.count) of \(message.count) bytes")
    }

    @Test(arguments: TestBackends.all)
    func largeWritesGoOutWholeAndCompleteTheirPromises(backend: BackendUnderTest) throws {
        let link = try Link(backend: backend)
        let message = Self.message(50_000)
        let written = link.channel.eventLoop.makePromise(of: Void.self)
        link.channel.writeAndFlush(ByteBuffer(bytes: message), promise: written)
        try written.futureResult.wait()
        let wire = try link.fromServer()
        let records = NIOWriteCoalescingTests.records(wire)
        #expect(records.count == 4, "\(records.map(\.length))")
        #expect(try clientReads(message, from: wire, link))
    }

    /// A TLS 1.3 KeyUpdate that asks for ours: the engine's reply is sealed in front of the
    /// next write's records, in the same lent buffer; the client reads both under the right keys.
    @Test(arguments: TestBackends.all)
    func aKeyUpdateReplyGoesOutBeforeTheNextWrite(backend: BackendUnderTest) throws {
        let link = try Link(backend: backend)
        try link.client.updateKeys(requestingPeerUpdate: true)
        try link.toServer()
        let message = Self.message(20_000)
        link.channel.writeAndFlush(ByteBuffer(bytes: message), promise: nil)
        let wire = try link.fromServer()
        let records = NIOWriteCoalescingTests.records(wire)
        #expect(records.count == 3, "the KeyUpdate reply and two records of data: \(records.map(\.length))")
        #expect(try clientReads(message, from: wire, link))
        // Both sides now use the new keys: a reply from the client still decrypts.
        try link.client.write(Array("after".utf8))
        try link.toServer()
        #expect(try inbound(link) == Array("after".utf8))
    }

    /// The engine copies plaintext and records into buffers that start on a 64-byte boundary
    /// (`TLSChannelHandler.copyAlignment`: glibc's `rep movsb` is many times slower on some
    /// CPUs otherwise).
    @Test(arguments: TestBackends.all)
    func theEngineCopiesIntoBuffersOn64ByteBoundaries(backend: BackendUnderTest) throws {
        let link = try Link(backend: backend)
        func start(_ buffer: ByteBuffer) -> UInt { buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } }
        link.channel.writeAndFlush(ByteBuffer(bytes: Self.message(20_000)), promise: nil)
        var outbound = 0
        while let buffer = try link.channel.readOutbound(as: ByteBuffer.self) {
            outbound += 1
            #expect(start(buffer) % 64 == 0, "records sealed at \(start(buffer) % 64) past a 64-byte boundary")
        }
        #expect(outbound >= 1)
        try link.client.write(Self.message(20_000))
        try link.toServer()
        var inbound = 0
        while let buffer = try link.channel.readInbound(as: ByteBuffer.self) {
            inbound += 1
            #expect(start(buffer) % 64 == 0, "plaintext read at \(start(buffer) % 64) past a 64-byte boundary")
        }
        #expect(inbound == 2)
    }
}
