import Foundation
import TLSKit
import TLSKitIO
import TLSKitTestSupport
import Testing

/// Unwrapping: TLS ends with a close_notify exchange and the socket goes back to cleartext,
/// keeping the cleartext that arrived right behind the peer's close_notify.
@Suite("Unwrap to cleartext", .serialized)
struct UnwrapTests {
    @Test(arguments: TestBackends.all)
    func cleartextAfterCloseNotifyIsHandedBack(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let context = try backend.make().makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let listener = try TLSListener(host: "127.0.0.1", port: 0, context: context)
        listener.timeout = .seconds(10)
        let port = listener.port
        let box = Handoff(listener)
        let serverDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { serverDone.signal() }
            guard let socket = try? box.value.accept() else { return }
            defer { socket.close() }
            do {
                try socket.handshake()
                _ = try socket.receive()  // "switch to cleartext"
                // close_notify and the first cleartext bytes in one write, as CCC allows.
                _ = try socket.connection.shutdown()
                var bytes = socket.connection.drainOutput()
                bytes += Array("PLAIN 1\n".utf8)
                _ = bytes.withUnsafeBytes { send(socket.fileDescriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                var byte: UInt8 = 0
                while recv(socket.fileDescriptor, &byte, 1, 0) == 1 {}  // until the client closes
            } catch {}
        }
        let client = try backend.make().makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let socket = try TLSSocket.connect(host: "127.0.0.1", port: port, context: client, serverName: try TLSServerName("localhost"))
        try socket.send("switch to cleartext")
        let (fd, cleartext) = try socket.unwrap()
        #expect(socket.fileDescriptor == -1)  // handed over: the socket no longer owns it
        #expect(String(decoding: cleartext, as: UTF8.self) == "PLAIN 1\n")
        Glibc.close(fd)
        #expect(serverDone.wait(timeout: .now() + 10) == .success)
        listener.close()
    }
}

final class Handoff<T>: @unchecked Sendable {
    // @unchecked: the creator stops touching `value` once it hands the box over.
    var value: T
    init(_ value: T) { self.value = value }
}
