import TLSKit

#if canImport(Glibc)
import Glibc
#endif

/// Target (c): a client and a server of one backend that completed their handshake in
/// memory; the input then writes, delivers, splits, duplicates, drops, corrupts, reorders
/// and injects records between them, floods key updates, closes and ends input.
///
/// Input: byte 0 picks the session (0 TLS 1.3, 1 TLS 1.2, 2 TLS 1.3 with client
/// certificates and ALPN; 3 as 0 and 4 as 2 but with the other backend as server, or as
/// client; 5 a server that sends 16 tickets, 6 the same to the other backend's client),
/// then a list of operations; each opcode byte is `op | dir << 4`,
/// where dir 0 is client → server and 1 server → client:
///
/// | op | what |
/// |---|---|
/// | 0 | sender writes `1 + 97 * byte` bytes of its stream and its output goes on the wire |
/// | 1 | the whole wire is delivered and the receiver reads |
/// | 2 | the first `u16 % (count+1)` bytes of the wire are delivered, the receiver reads |
/// | 3 | the first record on the wire is duplicated |
/// | 4 | the first record on the wire is dropped |
/// | 5 | the byte at `u16 % count` is XORed with `byte \| 1` |
/// | 6 | a record of type `[20,21,22,23,24,any][byte % 6]` with `byte % 32` bytes from the input is inserted at offset `u16 % (count+1)` (perhaps inside another record) |
/// | 7 | sender sends `1 + byte % 64` KeyUpdates (`byte & 0x80`: requesting the peer's) |
/// | 8 | sender shuts down (close_notify) |
/// | 9 | receiver is told the input ended |
/// | 10 | receiver reads without new input |
/// | 11 | the first two records on the wire swap places |
/// | 12 | `byte % 64` raw input bytes are appended to the wire (e.g. after close_notify) |
/// | 13 | sender calls handshake() again |
///
/// Invariants (beyond those of `Checked` on both ends): each side's plaintext is a prefix
/// of what the other wrote (nothing corrupted, replayed or reordered is accepted); when the
/// wire was not tampered with and neither side failed, everything written arrives.
public enum SessionTarget {
    public enum Op: UInt8 {
        case write = 0
        case deliver, deliverSplit, duplicate, drop, corrupt, inject, keyUpdates, shutdown, endOfInput, read, swap, append, handshake
    }

    /// Configurations (Configurations.server/client) and whether the client (or the
    /// server) is the other backend: the last two pair this backend with the other one.
    static let verbose = getenv("TLSKIT_FUZZ_VERBOSE") != nil
    nonisolated(unsafe) static let traceFile = fdopen(2, "w")

    static let sessionVariants: [(server: Int, client: Int, otherClient: Bool, otherServer: Bool)] = [
        (0, 0, false, false), (3, 0, false, false), (2, 1, false, false), (0, 0, false, true), (2, 1, true, false),
        // A flood of 16 NewSessionTickets, to this backend's client and to the other's.
        (4, 0, false, false), (4, 0, true, false),
    ]

    /// A byte stream with no short period, so duplicated or reordered data shows.
    static func streamByte(_ position: Int, _ direction: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: (UInt64(position) &* 2_654_435_761 &+ UInt64(direction) &* 40_503) >> 11)
    }

    public static func run(_ backend: Backend, _ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        var input = FuzzInput(data, size)
        let variant = sessionVariants[Int(input.byte()) % sessionVariants.count]
        let other: Backend = backend == .openssl ? .gnutls : .openssl
        let clientBackend = variant.otherClient ? other : backend
        let serverBackend = variant.otherServer ? other : backend
        let ends: [Checked]
        do {
            ends = [
                Checked(try Contexts.client(clientBackend, variant.client).makeConnection(), label: "\(clientBackend) client", peerHasNoKeys: false),
                Checked(try Contexts.server(serverBackend, variant.server).makeConnection(), label: "\(serverBackend) server", peerHasNoKeys: false),
            ]
        } catch { fatalError("makeConnection: \(error)") }
        // wires[d]: bytes on their way from ends[d] to ends[1 - d].
        var wires: [[UInt8]] = [[], []]
        var writtenCount = [0, 0]
        var tampered = [false, false]
        var checkedCount = [0, 0]  // plaintext bytes already compared, per receiver

        func flush(_ d: Int) { wires[d] += ends[d].drain() }
        func check(_ receiver: Int) {
            let sender = 1 - receiver
            let got = ends[receiver].plaintext
            var mismatch: Int?
            for i in checkedCount[receiver]..<min(got.count, writtenCount[sender]) where got[i] != streamByte(i, sender) {
                mismatch = i
                break
            }
            checkedCount[receiver] = got.count
            invariant(
                mismatch == nil && got.count <= writtenCount[sender],
                "\(ends[receiver].label) read \(got.count) bytes that are not a prefix of the \(writtenCount[sender]) bytes written (first difference at \(mismatch.map(String.init) ?? "the end"))"
            )
        }
        func readAll(_ r: Int, capacity: Int = 16_384) {
            for _ in 0..<64 {
                guard case .bytes? = ends[r].read(capacity: capacity) else { break }
            }
            check(r)
            flush(r)  // a KeyUpdate answer or an alert
        }
        func deliver(_ d: Int, _ count: Int) {
            let chunk = Array(wires[d].prefix(count))
            wires[d].removeFirst(chunk.count)
            if !chunk.isEmpty { ends[1 - d].receive(chunk) }
        }

        // The handshake, in memory.
        for _ in 0..<16 where !(ends[0].isHandshakeComplete && ends[1].isHandshakeComplete) {
            for d in 0..<2 {
                if !ends[d].isHandshakeComplete { ends[d].handshake() }
                flush(d)
                deliver(d, wires[d].count)
            }
        }
        invariant(
            ends[0].isHandshakeComplete && ends[1].isHandshakeComplete && !ends[0].hasFailed && !ends[1].hasFailed,
            "\(backend): the in-memory handshake did not complete: client \(ends[0].fatal.map { "\($0)" } ?? "-"), server \(ends[1].fatal.map { "\($0)" } ?? "-")"
        )
        flush(1)  // TLS 1.3 tickets

        var steps = 0
        while !input.isEmpty, steps < 2048 {
            steps += 1
            let opcode = input.byte()
            let d = Int(opcode >> 4) & 1
            let r = 1 - d
            guard let op = Op(rawValue: (opcode & 0x0F) % 14) else { continue }
            if verbose {
                fputs(
                    "step \(steps): \(op) \(d == 0 ? "c→s" : "s→c") wire \(wires[d].count) bytes, records \(Wire.records(wires[d]).records.map { "\($0.type)/\($0.length)" }), read c \(ends[0].plaintext.count) s \(ends[1].plaintext.count), written c \(writtenCount[0]) s \(writtenCount[1])\n",
                    traceFile)
                fflush(traceFile)
            }
            switch op {
            case .write:
                let count = 1 + 97 * Int(input.byte())
                let bytes = (writtenCount[d]..<writtenCount[d] + count).map { streamByte($0, d) }
                if ends[d].write(bytes) { writtenCount[d] += count }
                flush(d)
            case .deliver:
                deliver(d, wires[d].count)
                readAll(r)
            case .deliverSplit:
                deliver(d, input.u16() % (wires[d].count + 1))
                readAll(r, capacity: 1 + Int(input.byte()))
            case .duplicate:
                let (records, _) = Wire.records(wires[d])
                if let first = records.first {
                    wires[d].insert(contentsOf: wires[d][first.offset..<first.end], at: first.end)
                    tampered[d] = true
                }
            case .drop:
                let (records, _) = Wire.records(wires[d])
                if let first = records.first {
                    wires[d].removeSubrange(first.offset..<first.end)
                    tampered[d] = true
                }
            case .corrupt:
                if !wires[d].isEmpty {
                    wires[d][input.u16() % wires[d].count] ^= input.byte() | 1
                    tampered[d] = true
                }
            case .inject:
                let type = [20, 21, 22, 23, 24, input.byte()][Int(input.byte()) % 6]
                let payload = input.take(Int(input.byte()) % 32)
                let record = [UInt8(type), 3, 3, 0, UInt8(payload.count)] + payload
                wires[d].insert(contentsOf: record, at: input.u16() % (wires[d].count + 1))
                tampered[d] = true
            case .keyUpdates:
                let b = input.byte()
                for _ in 0...(Int(b) % 64) { ends[d].updateKeys(requestingPeerUpdate: b & 0x80 != 0) }
                flush(d)
            case .shutdown:
                ends[d].shutdown()
                flush(d)
            case .endOfInput:
                ends[r].receiveEndOfInput()
                tampered[d] = true  // what is still on the wire will not arrive
            case .read:
                readAll(r, capacity: [1, 5, 512, 16_384][Int(input.byte() % 4)])
            case .swap:
                let (records, _) = Wire.records(wires[d])
                if records.count >= 2 {
                    let a = records[0]
                    let b = records[1]
                    wires[d] = Array(wires[d][b.offset..<b.end] + wires[d][a.offset..<a.end] + wires[d][b.end...])
                    tampered[d] = true
                }
            case .append:
                wires[d] += input.take(Int(input.byte()) % 64)
                tampered[d] = true
            case .handshake:
                ends[d].handshake()
                flush(d)
            }
        }

        // The end: everything on the wires is delivered and read.
        for _ in 0..<2 {
            for d in 0..<2 {
                flush(d)
                deliver(d, wires[d].count)
                readAll(1 - d)
            }
        }
        for d in 0..<2 where !tampered[d] && !ends[0].hasFailed && !ends[1].hasFailed {
            invariant(
                ends[1 - d].plaintext.count == writtenCount[d],
                "\(ends[1 - d].label) received \(ends[1 - d].plaintext.count) of the \(writtenCount[d]) bytes written on an untouched wire")
        }
        ends[0].finish()
        ends[1].finish()
        return 0
    }
}
