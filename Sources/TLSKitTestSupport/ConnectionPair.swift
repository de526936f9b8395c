public import TLSKit

/// Two connections joined in memory: what one side drains, the other receives. The
/// protocol tests' way of running a handshake without sockets.
public final class ConnectionPair {
    /// The client end.
    public let client: any TLSConnection
    /// The server end.
    public let server: any TLSConnection
    /// The client's error, if its handshake (or a later call through the pair) failed.
    public private(set) var clientError: TLSError?
    /// The server's error, if its handshake (or a later call through the pair) failed.
    public private(set) var serverError: TLSError?
    /// Sees every byte string ``transfer(from:to:)`` moves, with its sender, before it is
    /// delivered (tests that count records on the wire).
    public var tap: ((_ from: any TLSConnection, _ bytes: [UInt8]) -> Void)?

    /// Joins a client and a server connection.
    public init(client: any TLSConnection, server: any TLSConnection) {
        self.client = client
        self.server = server
    }

    /// Makes both ends from contexts.
    public convenience init(
        client: any TLSClientContext, server: any TLSServerContext, serverName: String = "localhost"
    ) throws {
        self.init(
            client: try client.makeConnection(serverName: try TLSServerName(serverName)),
            server: try server.makeConnection())
    }

    /// Moves every pending byte from `from` to `to`; returns the count.
    @discardableResult
    public func transfer(from: any TLSConnection, to: any TLSConnection) -> Int {
        let bytes = from.drainOutput()
        guard !bytes.isEmpty else { return 0 }
        tap?(from, bytes)
        do { try to.receive(bytes) } catch {
            record(error, on: to)
        }
        return bytes.count
    }

    /// Runs both handshakes until each has completed or failed. Never throws: check
    /// ``clientError`` and ``serverError``.
    ///
    /// - Returns: `true` when both completed.
    @discardableResult
    public func handshake(maximumRounds: Int = 64) -> Bool {
        for _ in 0..<maximumRounds {
            var moved = 0
            step(client)
            moved += transfer(from: client, to: server)
            step(server)
            moved += transfer(from: server, to: client)
            let clientSettled = client.isHandshakeComplete || clientError != nil
            let serverSettled = server.isHandshakeComplete || serverError != nil
            if clientSettled && serverSettled && moved == 0 { break }
            if moved == 0 && !clientSettled && !serverSettled { break }  // stalled
        }
        return client.isHandshakeComplete && server.isHandshakeComplete && clientError == nil && serverError == nil
    }

    private func step(_ side: any TLSConnection) {
        guard !side.isHandshakeComplete, error(of: side) == nil else { return }
        do { _ = try side.handshake() } catch { record(error, on: side) }
    }

    /// Sends `bytes` from one end and returns what the other end reads.
    ///
    /// - Throws: the reading side's error (e.g. an alert that arrived after a TLS 1.3
    ///   handshake the client thought complete).
    public func send(_ bytes: [UInt8], from sender: any TLSConnection) throws(TLSError) -> [UInt8] {
        let receiver = sender === client ? server : client
        try sender.write(bytes)
        transfer(from: sender, to: receiver)
        return try readAll(receiver)
    }

    /// Reads everything `side` can decrypt now (after moving pending bytes to it).
    public func readAll(_ side: any TLSConnection) throws(TLSError) -> [UInt8] {
        var received: [UInt8] = []
        while true {
            do {
                guard let chunk = try side.read(maximumCount: 65_536) else { break }  // closed
                if chunk.isEmpty { break }
                received += chunk
            } catch {
                record(error, on: side)
                transfer(from: side, to: side === client ? server : client)
                throw error
            }
        }
        transfer(from: side, to: side === client ? server : client)
        return received
    }

    private func error(of side: any TLSConnection) -> TLSError? { side === client ? clientError : serverError }

    private func record(_ error: TLSError, on side: any TLSConnection) {
        if side === client { clientError = clientError ?? error } else { serverError = serverError ?? error }
    }
}
