import TLSKit

/// Targets (a) and (b): one engine (server or client) against arbitrary peer bytes.
///
/// Input: byte 0 picks the configuration (Configurations), then a list of calls:
///
/// | byte % 10 | call |
/// |---|---|
/// | 0 | receive the next `u16` bytes (big-endian length, capped at what is left) |
/// | 1 | receive the next `1 + byte % 32` bytes (small splits) |
/// | 2 | handshake() |
/// | 3 | read(into:) with 1, 5, 512 or 16384 bytes (`byte % 4`) |
/// | 4 | write(_:) of `byte * 64` bytes |
/// | 5 | shutdown() |
/// | 6 | receiveEndOfInput() |
/// | 7 | drainOutput of `1 + byte` bytes |
/// | 8 | drainOutput of everything |
/// | 9 | updateKeys(requestingPeerUpdate: byte & 1) |
///
/// At the end: handshake(), read(into:), and all output drained and checked.
public enum EngineTarget {
    public enum Op: UInt8 {
        case receive = 0
        case receiveSmall, handshake, read, write, shutdown, endOfInput, drainSome, drainAll, updateKeys
    }

    public static func run(_ backend: Backend, _ side: TLSSide, _ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        var input = FuzzInput(data, size)
        let variant = Int(input.byte()) % (side == .server ? Configurations.serverVariants : Configurations.clientVariants)
        let connection: any TLSConnection
        do {
            connection =
                side == .server
                ? try Contexts.server(backend, variant).makeConnection()
                : try Contexts.client(backend, variant).makeConnection()
        } catch { fatalError("makeConnection: \(error)") }
        let engine = Checked(connection, label: "\(backend) \(side)", peerHasNoKeys: true)
        var calls = 0
        while !input.isEmpty, calls < 4096 {
            calls += 1
            let op = Op(rawValue: input.byte() % 10)!
            switch op {
            case .receive: engine.receive(input.take(input.u16()))
            case .receiveSmall: engine.receive(input.take(1 + Int(input.byte() % 32)))
            case .handshake: engine.handshake()
            case .read: engine.read(capacity: [1, 5, 512, 16_384][Int(input.byte() % 4)])
            case .write: engine.write([UInt8](repeating: 0x61, count: Int(input.byte()) * 64))
            case .shutdown: engine.shutdown()
            case .endOfInput: engine.receiveEndOfInput()
            case .drainSome: engine.drain(maximum: 1 + Int(input.byte()))
            case .drainAll: engine.drain()
            case .updateKeys: engine.updateKeys(requestingPeerUpdate: input.byte() & 1 == 1)
            }
        }
        engine.handshake()
        engine.read(capacity: 16_384)
        engine.finish()
        return 0
    }

    /// Encodes a seed: configuration, then each flight received whole and answered.
    public static func seed(variant: UInt8, client: Bool, flights: [[UInt8]], endWith: [Op] = []) -> [UInt8] {
        var out: [UInt8] = [variant]
        if client { out += [Op.handshake.rawValue, Op.drainAll.rawValue] }
        for flight in flights {
            var rest = flight[...]
            while !rest.isEmpty {
                let chunk = rest.prefix(65_535)
                rest = rest.dropFirst(chunk.count)
                out += [Op.receive.rawValue, UInt8(chunk.count >> 8), UInt8(chunk.count & 0xFF)] + chunk
            }
            out += [Op.handshake.rawValue, Op.drainAll.rawValue]
        }
        for op in endWith {
            out.append(op.rawValue)
            if op == .read || op == .write || op == .drainSome || op == .updateKeys { out.append(3) }
        }
        return out
    }
}
