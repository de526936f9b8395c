import Synchronization
import TLSKit
import TLSKitTestSupport
import Testing

@testable import TLSKitOpenSSL

/// Session-ticket keys rotate: tickets under the previous key are still honoured, older
/// ones are not. The server context's clock is moved by the test, not waited for.
@Suite("Ticket key rotation (OpenSSL)")
struct TicketKeyRotationTests {
    @Test func ticketsSurviveOneRotationButNotTwo() throws {
        let now = Mutex<UInt64>(1_000)
        let backend = try OpenSSLBackend()
        var serverConfig = Fixtures.serverConfig()
        serverConfig.ticketKeyLifetime = .seconds(100)
        let server = try #require(try backend.makeServerContext(serverConfig) as? OpenSSLServerContext)
        server.ticketKeys.setClock { now.withLock { $0 } }
        let client = try backend.makeClientContext(Fixtures.clientConfig())

        #expect(try ResumptionTests.connect(client, server)?.resumed == false)  // ticket under key A
        now.withLock { $0 += 150 }  // A is past its lifetime: key B seals new tickets, A still opens
        #expect(try ResumptionTests.connect(client, server)?.resumed == true)  // resumed with A, renewed under B
        #expect(try ResumptionTests.connect(client, server)?.resumed == true)  // resumed with B
        now.withLock { $0 += 300 }  // B is two lifetimes old: its tickets are refused
        #expect(try ResumptionTests.connect(client, server)?.resumed == false)
        #expect(try ResumptionTests.connect(client, server)?.resumed == true)  // the fresh ticket works again
    }

    /// A clock that goes backwards (a suspended VM, a test) must not trap, and a key from the
    /// "future" is not trusted: the next connection is a full handshake.
    @Test func aClockGoingBackwardsNeitherTrapsNorResumes() throws {
        let now = Mutex<UInt64>(10_000)
        let backend = try OpenSSLBackend()
        let server = try #require(try backend.makeServerContext(Fixtures.serverConfig()) as? OpenSSLServerContext)
        server.ticketKeys.setClock { now.withLock { $0 } }
        let client = try backend.makeClientContext(Fixtures.clientConfig())
        #expect(try ResumptionTests.connect(client, server)?.resumed == false)
        now.withLock { $0 -= 5_000 }
        #expect(try ResumptionTests.connect(client, server)?.resumed == false)
        #expect(try ResumptionTests.connect(client, server)?.resumed == true)  // keys made at the new time work
    }
}
