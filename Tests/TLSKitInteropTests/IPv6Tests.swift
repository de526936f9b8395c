import Foundation
import TLSKit
import TLSKitIO
import TLSKitTestSupport
import Testing

/// TLSSocket and TLSListener over IPv6 loopback: our server with openssl s_client, and our
/// client with our server. The machine must have ::1 (Debian and the CI image do); without it
/// the test fails with that reason rather than passing.
@Suite("IPv6", .serialized)
struct IPv6Tests {
    @Test(arguments: TestBackends.all)
    func socketsWorkOverIPv6Loopback(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let context = try backend.make().makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let listener = try TLSListener(host: "::1", port: 0, context: context)
        listener.timeout = .seconds(10)
        defer { listener.close() }
        let port = listener.port
        let box = Handoff(listener)
        let served = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            for _ in 0..<2 {
                guard let socket = try? box.value.accept() else { break }
                if let message = try? socket.receive() {
                    try? socket.send(message)
                    try? socket.shutdown(waitForPeer: false)
                }
                socket.close()
                served.signal()
            }
        }

        let sClient = try PeerProcess(
            "openssl",
            [
                "s_client", "-connect", "[::1]:\(port)", "-servername", "localhost", "-CAfile", pki.caFile,
                "-verify_return_error", "-brief", "-ign_eof",
            ],
            stdin: Data("over IPv6\n".utf8))
        sClient.finish()
        #expect(sClient.standardOutput.contains("over IPv6"), "\(sClient.standardOutput) \(sClient.standardError)")
        #expect(sClient.standardError.contains("Verification: OK"))
        #expect(served.wait(timeout: .now() + 10) == .success)

        let client = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let socket = try TLSSocket.connect(
            host: "::1", port: port, context: client, serverName: try TLSServerName("localhost"),
            timeout: .seconds(10))
        defer { socket.close() }
        try socket.send("hello ::1")
        #expect(try socket.receive() == Array("hello ::1".utf8))
        #expect(socket.peerAddress?.contains("::1") == true, "\(String(describing: socket.peerAddress))")
        #expect(served.wait(timeout: .now() + 10) == .success)
    }
}
