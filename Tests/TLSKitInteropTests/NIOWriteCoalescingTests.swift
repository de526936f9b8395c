import NIOCore
import NIOEmbedded
import Synchronization
import TLSKit
import TLSKitNIO
import TLSKitTestSupport
import Testing

/// TLSChannelHandler gathers small writes into one record per flush: the records it sends,
/// their order, and the writes' promises. The server handler runs in an `EmbeddedChannel`;
/// its peer is a client engine of each backend, fed the channel's output.
@Suite("SwiftNIO adapter: write coalescing")
struct NIOWriteCoalescingTests {
    /// A server handler in an embedded channel, handshaken with a client engine.
    final class Link {
        let channel = EmbeddedChannel()
        let client: any TLSConnection

        init(backend: BackendUnderTest) throws {
            let pki = InteropPKI.shared
            let server = try backend.make().makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
            let clientContext = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
            client = try clientContext.makeConnection(serverName: try TLSServerName("localhost"))
            try channel.pipeline.syncOperations.addHandler(TLSChannelHandler(context: server))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
            for _ in 0..<16 where !client.isHandshakeComplete {
                _ = try client.handshake()
                try toServer()
                try client.receive(try fromServer())
            }
            #expect(client.isHandshakeComplete)
            _ = try client.read()  // a TLS 1.3 ticket, if any
        }

        /// Closes the channel for good: the handler's close waits for the peer (linger and
        /// alert timers), and an embedded channel that never closes keeps its pipeline and
        /// handler alive in a cycle (LeakSanitizer reported every Link).
        deinit {
            channel.close(promise: nil)
            channel.embeddedEventLoop.advanceTime(by: .seconds(3_600))
            _ = try? channel.finish(acceptAlreadyClosed: true)
        }

        func toServer() throws {
            let bytes = client.drainOutput()
            if !bytes.isEmpty { try channel.writeInbound(ByteBuffer(bytes: bytes)) }
        }

        /// Everything the server handler wrote to the network since the last call.
        func fromServer() throws -> [UInt8] {
            var out: [UInt8] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { out += buffer.readableBytesView }
            return out
        }

        /// Decrypts server output; `nil` once the server's close_notify arrived.
        func plaintext(_ ciphertext: [UInt8]) throws -> (bytes: [UInt8], closed: Bool) {
            try client.receive(ciphertext)
            var out: [UInt8] = []
            while true {
                guard let chunk = try client.read(maximumCount: 65_536) else { return (out, true) }
                if chunk.isEmpty { return (out, false) }
                out += chunk
            }
        }

        func write(_ text: String, promise: EventLoopPromise<Void>? = nil) {
            channel.write(ByteBuffer(string: text), promise: promise)
        }
    }

    /// The TLS records in `bytes` (type, length), read from their 5-byte headers.
    static func records(_ bytes: [UInt8]) -> [(type: UInt8, length: Int)] {
        var records: [(UInt8, Int)] = []
        var i = 0
        while i + 5 <= bytes.count {
            let length = Int(bytes[i + 3]) << 8 | Int(bytes[i + 4])
            records.append((bytes[i], length))
            i += 5 + length
        }
        #expect(i == bytes.count, "the output ends inside a record")
        return records
    }

    @Test(arguments: TestBackends.all)
    func aClosedChannelFreesItsPipeline(backend: BackendUnderTest) throws {
        weak var weakChannel: EmbeddedChannel?
        do {
            let link = try Link(backend: backend)
            weakChannel = link.channel
            link.write("x")
            link.channel.flush()
        }
        #expect(weakChannel == nil, "the closed channel, its pipeline and TLSChannelHandler are still alive")
    }

    @Test(arguments: TestBackends.all)
    func smallWritesBeforeAFlushGoOutAsOneRecord(backend: BackendUnderTest) throws {
        let link = try Link(backend: backend)
        link.write("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n")
        link.write("hello\n")
        link.write("")
        #expect(try link.fromServer().isEmpty, "nothing is sealed before the flush")
        link.channel.flush()
        let wire = try link.fromServer()
        let records = Self.records(wire)
        #expect(records.count == 1, "three writes and a flush: \(records)")
        let (plaintext, _) = try link.plaintext(wire)
        #expect(plaintext == Array("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n".utf8))
    }

    @Test(arguments: TestBackends.all)
    func largeWritesKeepTheirOrderAndFillRecords(backend: BackendUnderTest) throws {
        let link = try Link(backend: backend)
        let large = String(repeating: "L", count: 20_000)  // over one record's 16 KiB
        let small = (0..<200).map { "line \($0)\n" }  // 1,890 bytes
        link.write("head\n")
        link.write(large)
        for line in small { link.write(line) }
        for _ in 0..<3 { link.write(String(repeating: "m", count: 1_000)) }
        link.channel.flush()
        let wire = try link.fromServer()
        let records = Self.records(wire)
        let (plaintext, _) = try link.plaintext(wire)
        let expected = "head\n" + large + small.joined() + String(repeating: "m", count: 3_000)
        #expect(plaintext == Array(expected.utf8))
        // head (1), the large write (2: 16 KiB + the rest), the small writes together (1).
        #expect(records.count == 4, "\(records.map(\.length))")
        #expect(records.allSatisfy { $0.type == 23 })
    }

    @Test(arguments: TestBackends.all)
    func stagedWritesComeBeforeTheCloseNotify(backend: BackendUnderTest) throws {
        let link = try Link(backend: backend)
        let written = link.channel.eventLoop.makePromise(of: Void.self)
        link.write("last words", promise: written)
        link.channel.close(promise: nil)
        let (plaintext, closed) = try link.plaintext(try link.fromServer())
        #expect(plaintext == Array("last words".utf8))
        #expect(closed, "the close_notify follows the staged write")
        #expect(throws: Never.self) { try written.futureResult.wait() }
    }

    @Test(arguments: TestBackends.all)
    func promisesCompleteWhenTheRecordIsWritten(backend: BackendUnderTest) throws {
        let link = try Link(backend: backend)
        let order = Mutex<[Int]>([])
        let promises = (0..<3).map { _ in link.channel.eventLoop.makePromise(of: Void.self) }
        for (i, promise) in promises.enumerated() {
            promise.futureResult.whenSuccess { order.withLock { $0.append(i) } }
            link.write("part \(i)", promise: promise)
        }
        link.channel.embeddedEventLoop.run()
        #expect(order.withLock { $0 }.isEmpty, "no write is done before the flush")
        link.channel.flush()
        link.channel.embeddedEventLoop.run()
        #expect(order.withLock { $0 } == [0, 1, 2])
        #expect(Self.records(try link.fromServer()).count == 1)
    }

    @Test(arguments: TestBackends.all)
    func stagedWritesFailWhenTheChannelGoesAway(backend: BackendUnderTest) throws {
        let link = try Link(backend: backend)
        let written = link.channel.eventLoop.makePromise(of: Void.self)
        link.write("never flushed", promise: written)
        link.channel.pipeline.fireChannelInactive()
        link.channel.embeddedEventLoop.run()
        #expect(throws: TLSError.self) { try written.futureResult.wait() }
        _ = try? link.channel.finish()
    }
}
