import TLSKit
import TLSKitTestSupport
import Testing

/// Peers that hang up, truncate, or send garbage: always a TLSError, never a crash or hang.
@Suite("Negative: transport and garbage")
struct TransportFailureTests {
    @Test(arguments: TestBackends.all)
    func hangUpWithoutCloseNotifyIsRaggedEOF(backend: BackendUnderTest) throws {
        let pair = try backend.pair(client: Fixtures.clientConfig(), server: Fixtures.serverConfig())
        #expect(pair.handshake())
        _ = try pair.readAll(pair.client)  // session tickets
        try pair.server.write(Array("partial".utf8))
        pair.transfer(from: pair.server, to: pair.client)
        pair.client.receiveEndOfInput()
        #expect(try pair.client.read(maximumCount: 100) == Array("partial".utf8))
        #expect(throws: TLSError(.raggedEOF)) { _ = try pair.client.read(maximumCount: 100) }
        // Sticky: the same error again.
        #expect(throws: TLSError(.raggedEOF)) { _ = try pair.client.read(maximumCount: 100) }
        #expect(throws: TLSError(.raggedEOF)) { try pair.client.write(Array("x".utf8)) }
    }

    @Test(arguments: TestBackends.all)
    func hangUpMidHandshakeIsRaggedEOF(backend: BackendUnderTest) throws {
        let backendValue = try backend.make()
        let client = try backendValue.makeClientContext(Fixtures.clientConfig()).makeConnection(serverName: try TLSServerName("localhost"))
        #expect(try client.handshake() == .outputPending)
        #expect(!client.drainOutput().isEmpty)
        #expect(try client.handshake() == .needsInput)
        client.receiveEndOfInput()
        let error = #expect(throws: TLSError.self) { _ = try client.handshake() }
        #expect(error?.code == .raggedEOF)
        #expect(error?.message.contains("during the handshake") == true)

        let fresh = try backendValue.makeClientContext(Fixtures.clientConfig()).makeConnection(serverName: try TLSServerName("localhost"))
        fresh.receiveEndOfInput()
        #expect(throws: TLSError(.invalidState)) { try fresh.receive([1, 2, 3]) }
    }

    @Test(arguments: TestBackends.all)
    func truncatedServerFlightThenHangUp(backend: BackendUnderTest) throws {
        let backendValue = try backend.make()
        let client = try backendValue.makeClientContext(Fixtures.clientConfig()).makeConnection(serverName: try TLSServerName("localhost"))
        let server = try backendValue.makeServerContext(Fixtures.serverConfig()).makeConnection()
        _ = try client.handshake()
        try server.receive(client.drainOutput())
        _ = try server.handshake()
        let flight = server.drainOutput()
        try client.receive(Array(flight.prefix(flight.count / 2)))
        var status = try client.handshake()
        while status == .outputPending {  // e.g. a TLS 1.3 compatibility ChangeCipherSpec
            _ = client.drainOutput()
            status = try client.handshake()
        }
        #expect(status == .needsInput)
        client.receiveEndOfInput()
        #expect(throws: TLSError(.raggedEOF)) { _ = try client.handshake() }
    }

    @Test(arguments: TestBackends.all)
    func garbageFromTheClientIsAProtocolViolation(backend: BackendUnderTest) throws {
        let server = try backend.make().makeServerContext(Fixtures.serverConfig()).makeConnection()
        var garbage = [UInt8](repeating: 0, count: 512)
        var state: UInt32 = 12345
        for i in garbage.indices {
            state = state &* 1_103_515_245 &+ 12345
            garbage[i] = UInt8(truncatingIfNeeded: state >> 16)
        }
        garbage[0] = 0x42  // not a TLS content type
        try server.receive(garbage)
        let error = #expect(throws: TLSError.self) { _ = try server.handshake() }
        #expect(error?.code == .protocolViolation)
        // Sticky, and an alert may still be drained.
        #expect(throws: TLSError(.protocolViolation)) { _ = try server.handshake() }
        _ = server.drainOutput()
    }

    @Test(arguments: TestBackends.all)
    func plainHTTPToATLSServerIsNamed(backend: BackendUnderTest) throws {
        let server = try backend.make().makeServerContext(Fixtures.serverConfig()).makeConnection()
        try server.receive(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let error = #expect(throws: TLSError.self) { _ = try server.handshake() }
        #expect(error?.code == .protocolViolation)
        #expect(error?.message.contains("HTTP") == true)
    }

    @Test(arguments: TestBackends.all)
    func garbageFromTheServerIsAProtocolViolation(backend: BackendUnderTest) throws {
        let client = try backend.make().makeClientContext(Fixtures.clientConfig()).makeConnection(serverName: try TLSServerName("localhost"))
        _ = try client.handshake()
        _ = client.drainOutput()
        try client.receive(Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8))
        let error = #expect(throws: TLSError.self) { _ = try client.handshake() }
        #expect(error?.code == .protocolViolation)
    }

    @Test(arguments: TestBackends.all)
    func tamperedRecordIsRejected(backend: BackendUnderTest) throws {
        let pair = try backend.pair(client: Fixtures.clientConfig(), server: Fixtures.serverConfig())
        #expect(pair.handshake())
        try pair.client.write(Array("secret message".utf8))
        var record = pair.client.drainOutput()
        record[record.count - 3] ^= 0x01
        try pair.server.receive(record)
        let error = #expect(throws: TLSError.self) { _ = try pair.server.read(maximumCount: 100) }
        #expect(error?.code == .protocolViolation)
    }

    @Test(arguments: TestBackends.all)
    func callsOutOfOrderAreInvalidState(backend: BackendUnderTest) throws {
        let client = try backend.make().makeClientContext(Fixtures.clientConfig()).makeConnection(serverName: try TLSServerName("localhost"))
        #expect(throws: TLSError(.invalidState)) { try client.write(Array("early".utf8)) }
        #expect(throws: TLSError(.invalidState)) { _ = try client.read(maximumCount: 10) }
        #expect(client.connectionInfo == nil)
    }
}
