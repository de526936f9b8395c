import Foundation
import NIOCore
import NIOPosix
import Synchronization
import TLSKit
import TLSKitNIO
import TLSKitTestSupport
import Testing

@testable import TLSKitIO

/// Peers that misbehave on purpose: every adapter must answer a fatal error with its alert
/// (and whatever it had queued before it) before closing, and bound the time a peer can
/// hold a handshake, shutdown or unwrap.
@Suite("Hostile peers", .serialized)
struct HostilePeerTests {
    /// A Python `ssl` client over its own raw socket (MemoryBIO), so it can do a real
    /// handshake and then misbehave at record level. Prints one line saying what came back:
    /// `ALERT <reason>` (an alert record the server sent, decrypted and named by OpenSSL),
    /// `EOF` (the server closed without an alert), `CLOSE_NOTIFY +n` (n: bytes the server
    /// sent after its close_notify, before closing), `RESET`, `TIMEOUT`, or
    /// `ERROR <reason>` for a local failure.
    ///
    /// argv: port, action (`tamper`: flip a bit in the tag of a real application-data
    /// record; `garbage`: cleartext where a record header belongs; `none`), max version
    /// (`1.2`/`1.3`), CA file, then optionally client certificate and key.
    static let probe = """
        import os, socket, ssl, sys
        port, action, version, cafile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile)
        if version == "1.2":
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        if len(sys.argv) > 6:
            ctx.load_cert_chain(sys.argv[5], sys.argv[6])
        raw = socket.create_connection(("127.0.0.1", port))
        # Generous: only a failure waits this long, and a loaded sanitizer run can hold the
        # server up for tens of seconds.
        raw.settimeout(60)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
        def report(text):
            print(text, flush=True)
            sys.exit(0)
        def push():
            data = out.read()
            if data:
                raw.sendall(data)
        def pull():
            try:
                data = raw.recv(65536)
            except socket.timeout:
                report("TIMEOUT")
            except ConnectionResetError:
                report("RESET")
            if not data:
                report("EOF")
            inc.write(data)
        def after_close_notify():
            # Count what the server sent after its close_notify, up to its EOF.
            extra = inc.pending
            raw.settimeout(5)
            try:
                while True:
                    data = raw.recv(65536)
                    if not data:
                        break
                    extra += len(data)
            except (socket.timeout, ConnectionResetError):
                pass
            report("CLOSE_NOTIFY +%d" % extra)
        def classify(error):
            reason = error.reason or str(error)
            report(("ALERT " if "ALERT" in reason else "ERROR ") + reason)
        while True:
            try:
                obj.do_handshake()
                push()
                break
            except ssl.SSLWantReadError:
                push()
                pull()
            except ssl.SSLError as error:
                classify(error)
        if action == "tamper":
            obj.write(b"hello")
            record = bytearray(out.read())
            record[-1] ^= 0x01
            raw.sendall(bytes(record))
        elif action == "garbage":
            raw.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        while True:
            try:
                if not obj.read(65536):
                    after_close_notify()
            except ssl.SSLWantReadError:
                pull()
            except ssl.SSLZeroReturnError:
                after_close_notify()
            except ssl.SSLError as error:
                classify(error)
        """

    static func runProbe(port: Int, action: String, version: String, clientCertificate: (String, String)? = nil) throws -> String {
        var arguments = ["-c", probe, "\(port)", action, version, InteropPKI.shared.caFile]
        if let (cert, key) = clientCertificate { arguments += [cert, key] }
        let python = try PeerProcess("python3", arguments)
        #expect(python.finish() == 0, "\(python.standardError)")
        return python.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A server that requires client certificates from the interop CA, or none.
    static func serverConfiguration(requireClientCertificate: Bool) -> TLSServerConfiguration {
        var config = TLSServerConfiguration(certificateChain: InteropPKI.shared.ecdsa.identity.signingChain)
        if requireClientCertificate { config.trustStore = .file(InteropPKI.shared.caFile) }
        return config
    }

    // MARK: TLSChannelHandler

    /// Runs a NIO echo server behind TLSChannelHandler, lets `body` talk to it, and returns
    /// the body's result with the server-side error.
    static func withNIOServer(
        backend: BackendUnderTest, requireClientCertificate: Bool = false, _ body: (Int) throws -> String
    ) throws -> (probe: String, serverError: TLSError?) {
        let context = try backend.make().makeServerContext(serverConfiguration(requireClientCertificate: requireClientCertificate))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let serverError = group.next().makePromise(of: (any Error).self)
        let server = try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TLSChannelHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(NIOTests.ErrorRecorder(error: serverError))
                    try channel.pipeline.syncOperations.addHandler(NIOTests.Echo())
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? server.close().wait() }
        let output = try body(try #require(server.localAddress?.port))
        let timeout = group.next().scheduleTask(in: .seconds(5)) { serverError.fail(TLSError(.timeout, "no server error")) }
        let error = try? serverError.futureResult.wait() as? TLSError
        timeout.cancel()
        return (output, error)
    }

    @Test(arguments: TestBackends.all, ["1.2", "1.3"])
    func nioServerSendsBadRecordMACBeforeClosing(backend: BackendUnderTest, version: String) throws {
        let (probe, error) = try Self.withNIOServer(backend: backend) { port in
            try Self.runProbe(port: port, action: "tamper", version: version)
        }
        #expect(probe.hasPrefix("ALERT") && probe.contains("BAD_RECORD_MAC"), "the client saw: \(probe)")
        #expect(error != nil && error?.code != .timeout, "\(String(describing: error))")
    }

    @Test(arguments: TestBackends.all)
    func nioServerAnswersGarbageWithAnAlert(backend: BackendUnderTest) throws {
        let (probe, error) = try Self.withNIOServer(backend: backend) { port in
            try Self.runProbe(port: port, action: "garbage", version: "1.3")
        }
        #expect(probe.hasPrefix("ALERT"), "the client saw: \(probe)")
        #expect(error != nil)
    }

    @Test(arguments: TestBackends.all, ["1.2", "1.3"])
    func nioServerRejectingAClientCertificateSendsItsAlert(backend: BackendUnderTest, version: String) throws {
        let pki = InteropPKI.shared
        let (probe, error) = try Self.withNIOServer(backend: backend, requireClientCertificate: true) { port in
            try Self.runProbe(port: port, action: "none", version: version, clientCertificate: (pki.selfSigned.cert, pki.selfSigned.key))
        }
        #expect(probe.hasPrefix("ALERT"), "the client saw: \(probe)")
        #expect(error?.code == .certificateVerification || error?.code == .handshake, "\(String(describing: error))")
    }

    /// A peer that goes on sending after the record the server rejects (a TLS 1.3 client's
    /// CertificateVerify and Finished after a bad Certificate, say) must still read the alert.
    /// Closing at once makes the kernel answer those bytes with a reset, and the reset destroys
    /// the alert in the peer's receive buffer; `openssl s_server` lingers to prevent that, and
    /// so must TLSChannelHandler. The probe sends an unknown content type instead of a
    /// ClientHello, waits for the server's answer to arrive, sends 1000 bytes more, and then
    /// reads: `ALERT <hex record>` / `EOF` / `RESET`.
    static let lateBytesProbe = """
        import select, socket, sys
        raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
        raw.sendall(bytes([0x63, 3, 3, 0, 5]) + b"hello")
        if not select.select([raw], [], [], 10)[0]:
            print("TIMEOUT"); sys.exit(0)
        try:
            raw.sendall(b"x" * 1000)  # the rest of a flight, after the server failed
            data = b""
            while True:
                chunk = raw.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            print("RESET"); sys.exit(0)
        print(("ALERT " + data[:7].hex()) if data[:1] == bytes([0x15]) else "EOF " + data.hex())
        """

    @Test(arguments: TestBackends.all)
    func nioServerAlertSurvivesBytesThePeerSendsAfterTheBadRecord(backend: BackendUnderTest) throws {
        let (probe, error) = try Self.withNIOServer(backend: backend) { port in
            let python = try PeerProcess("python3", ["-c", Self.lateBytesProbe, "\(port)"])
            #expect(python.finish() == 0, "\(python.standardError)")
            return python.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // A plaintext fatal alert: level 2, unexpected_message (10).
        #expect(["ALERT 1503030002020a", "ALERT 1503010002020a"].contains(probe), "the client saw: \(probe)")
        #expect(error != nil)
    }

    // MARK: TLSSocket and TLSStream

    /// A TLSListener server for one connection: handshake, echo until an error, then close
    /// (the way an application would). Returns the server's error.
    static func withSocketServer(
        backend: BackendUnderTest, requireClientCertificate: Bool = false, _ body: (Int) throws -> String
    ) throws -> (probe: String, serverError: TLSError?) {
        let context = try backend.make().makeServerContext(serverConfiguration(requireClientCertificate: requireClientCertificate))
        let listener = try TLSListener(host: "127.0.0.1", port: 0, context: context)
        listener.timeout = .seconds(10)
        let result = Mutex<TLSError?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { done.signal() }
            do {
                let socket = try listener.accept()
                defer { socket.close() }
                do {
                    while let chunk = try socket.receive() { try socket.send(chunk) }
                } catch {
                    result.withLock { $0 = error as? TLSError }
                }
            } catch {
                result.withLock { $0 = error as? TLSError }
            }
        }
        let output = try body(Int(listener.port))
        _ = done.wait(timeout: .now() + 10)
        listener.close()
        return (output, result.withLock { $0 })
    }

    @Test(arguments: TestBackends.all, ["1.2", "1.3"])
    func socketServerSendsBadRecordMACBeforeClosing(backend: BackendUnderTest, version: String) throws {
        let (probe, error) = try Self.withSocketServer(backend: backend) { port in
            try Self.runProbe(port: port, action: "tamper", version: version)
        }
        #expect(probe.hasPrefix("ALERT") && probe.contains("BAD_RECORD_MAC"), "the client saw: \(probe)")
        #expect(error != nil)
    }

    @Test(arguments: TestBackends.all, ["1.2", "1.3"])
    func socketServerRejectingAClientCertificateSendsItsAlert(backend: BackendUnderTest, version: String) throws {
        let pki = InteropPKI.shared
        let (probe, error) = try Self.withSocketServer(backend: backend, requireClientCertificate: true) { port in
            try Self.runProbe(port: port, action: "none", version: version, clientCertificate: (pki.selfSigned.cert, pki.selfSigned.key))
        }
        #expect(probe.hasPrefix("ALERT"), "the client saw: \(probe)")
        #expect(error != nil)
    }

    @Test(arguments: TestBackends.all, ["1.2", "1.3"])
    func streamServerSendsBadRecordMACBeforeClosing(backend: BackendUnderTest, version: String) async throws {
        let context = try backend.make().makeServerContext(Self.serverConfiguration(requireClientCertificate: false))
        let listener = try TLSStreamListener(host: "127.0.0.1", port: 0, context: context)
        defer { listener.close() }
        let port = Int(listener.port)
        let probeTask = Task { try await onOwnThread { try Self.runProbe(port: port, action: "tamper", version: version) } }
        let stream = try await listener.accept()
        var serverError: (any Error)?
        do {
            while let chunk = try await stream.read() { try await stream.write(chunk) }
        } catch {
            serverError = error
        }
        await stream.close()
        let probe = try await probeTask.value
        #expect(probe.hasPrefix("ALERT") && probe.contains("BAD_RECORD_MAC"), "the client saw: \(probe)")
        #expect(serverError is TLSError)
    }

    /// While waiting for the peer's close_notify, a tampered record is still answered with
    /// bad_record_mac.
    @Test(arguments: TestBackends.all)
    func socketShutdownAnswersABadRecordWithItsAlert(backend: BackendUnderTest) throws {
        let context = try backend.make().makeServerContext(Self.serverConfiguration(requireClientCertificate: false))
        let listener = try TLSListener(host: "127.0.0.1", port: 0, context: context)
        let result = Mutex<TLSError?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { done.signal() }
            do {
                let socket = try listener.accept()
                defer { socket.close() }
                try socket.handshake()
                try socket.shutdown(waitForPeer: true)  // the probe's tampered record arrives here
            } catch {
                result.withLock { $0 = error as? TLSError }
            }
        }
        let probe = try Self.runProbe(port: Int(listener.port), action: "tamper", version: "1.3")
        _ = done.wait(timeout: .now() + 10)
        listener.close()
        // The probe reads our close_notify, then counts what follows it. GnuTLS sends the
        // bad_record_mac alert (an encrypted record, 24 bytes in TLS 1.3); OpenSSL writes
        // nothing at all once its close_notify is out (docs/BackendDifferences.md).
        if backend.name == "gnutls" {
            #expect(probe.hasPrefix("CLOSE_NOTIFY +") && probe != "CLOSE_NOTIFY +0", "the client saw: \(probe)")
        } else {
            #expect(probe == "CLOSE_NOTIFY +0", "the client saw: \(probe)")
        }
        #expect(result.withLock { $0 } != nil, "the bad record is reported by shutdown")
    }
}
