import Dispatch
import Foundation
import Synchronization
import TLSKit
import TLSKitIO
import TLSKitInsecure
import TLSKitTestSupport
import Testing

@testable import TLSKitOpenSSL

#if canImport(Glibc)
import Glibc
#endif

/// Descriptors under cancellation storms and listeners closed under accept().
extension ConcurrencyStressTests {
    // MARK: - Descriptors

    /// Open descriptors of this process that are TCP sockets with `port` at either end.
    /// (Counting every descriptor would also count those of tests running in parallel.)
    static func socketDescriptors(port: UInt16) -> Int {
        var inodes = Set<String>()
        for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 9 else { continue }
                let ports = [fields[1], fields[2]].compactMap { $0.split(separator: ":").last.flatMap { UInt16($0, radix: 16) } }
                if ports.contains(port) { inodes.insert(String(fields[9])) }
            }
        }
        var count = 0
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)"),
                target.hasPrefix("socket:[")
            else { continue }
            if inodes.contains(String(target.dropFirst(8).dropLast())) { count += 1 }
        }
        return count
    }

    static func allDescriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }

    /// Waits (up to `seconds`) until `condition` holds.
    static func eventually(seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
        let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < end {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    /// Many `TLSStream`s cancelled at random points (during connect, the handshake, reads
    /// and writes) while other streams on the same server run to the end: the survivors all
    /// succeed (no cancellation shuts down a descriptor number another stream reused), and
    /// afterwards no socket of the test is left open.
    @Test(arguments: TestBackends.all)
    func cancellationStormLeaksNoDescriptor(backend: BackendUnderTest) async throws {
        let pki = InteropPKI.shared
        let made = try backend.make()
        let serverContext = try made.makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let client = try made.makeClientContext(TLSClientConfiguration(trustStore: .file(pki.caFile)))
        let name = try TLSServerName("localhost")
        let descriptorsBefore = Self.allDescriptors()
        let listener = try TLSListener(host: "127.0.0.1", port: 0, context: serverContext)
        listener.timeout = .seconds(120)
        let port = listener.port

        // The server echoes on every connection until it ends, however it ends. It runs on
        // threads of its own, not in tasks: tasks share about one thread per core with every
        // test running in parallel, and a sanitizer run once starved this server's tasks for
        // 60 s (a survivor's handshake timed out). Only the clients under test are tasks.
        let serverThreads = DispatchGroup()
        serverThreads.enter()
        Thread.detachNewThread {
            defer { serverThreads.leave() }
            while true {
                guard let accepted = try? listener.accept() else { return }
                let handoff = Locked<TLSSocket?>(accepted)  // to the connection's thread, then only there
                serverThreads.enter()
                Thread.detachNewThread {
                    defer { serverThreads.leave() }
                    guard let socket = handoff.withLock({ $0 }) else { return }
                    do { while let chunk = try socket.receive() { try socket.send(chunk) } } catch {}
                    socket.close()
                }
            }
        }

        // Generous time-outs: a stale shutdown(2) on a survivor's descriptor fails it at once
        // (an I/O error, a ragged EOF); only a starved machine (sanitizers, 2 busy cores) is slow.
        let rounds = 8
        let victimsPerRound = 24
        let survivorsPerRound = 6
        let survivorFailures = Locked<[String]>([])
        let outcomes = Locked<[String: Int]>([:])
        for round in 0..<rounds {
            var victims: [Task<Void, any Error>] = []
            for _ in 0..<victimsPerRound {
                victims.append(
                    Task {
                        let stream = try await TLSStream.connect(
                            host: "127.0.0.1", port: port, context: client, serverName: name, timeout: .seconds(60))
                        for _ in 0..<50 {
                            try await stream.write(Array(repeating: 0x61, count: 1000))
                            _ = try await stream.read()
                        }
                        await stream.close()
                    })
            }
            let survivors = (0..<survivorsPerRound).map { i in
                Task {
                    do {
                        let stream = try await TLSStream.connect(
                            host: "127.0.0.1", port: port, context: client, serverName: name, timeout: .seconds(60))
                        for j in 0..<5 {
                            let message = Array("round \(round) survivor \(i) message \(j)\n".utf8)
                            try await stream.write(message)
                            var echoed: [UInt8] = []
                            while echoed.count < message.count, let chunk = try await stream.read() { echoed += chunk }
                            if echoed != message { survivorFailures.withLock { $0.append("round \(round) survivor \(i): echo differs") } }
                        }
                        await stream.close()
                    } catch {
                        survivorFailures.withLock { $0.append("round \(round) survivor \(i): \(error)") }
                    }
                }
            }
            // Cancel each victim after a random delay: some before TCP is up, some in the
            // handshake, most in the middle of the echo loop.
            await withTaskGroup(of: Void.self) { group in
                for victim in victims {
                    group.addTask {
                        try? await Task.sleep(for: .microseconds(Int.random(in: 0...60_000)))
                        victim.cancel()
                    }
                }
            }
            for victim in victims {
                let outcome: String
                switch await victim.result {
                case .success: outcome = "finished"
                case .failure(let error as TLSError): outcome = "TLSError.\(error.code)"
                case .failure(is CancellationError): outcome = "cancelled"
                case .failure(let error): outcome = "\(type(of: error))"
                }
                outcomes.withLock { $0[outcome, default: 0] += 1 }
            }
            for survivor in survivors { await survivor.value }
        }
        print("cancellation storm \(backend): \(outcomes.withLock { $0 })")
        #expect(survivorFailures.withLock { $0 } == [])
        #expect((outcomes.withLock { $0["cancelled"] } ?? 0) > 0, "some streams were cancelled mid-flight")

        listener.close()
        let serversDone = await Self.eventually(seconds: 30) { serverThreads.wait(timeout: .now()) == .success }
        #expect(serversDone, "server threads still running 30 s after the last client ended")
        let leftover = await Self.eventually { Self.socketDescriptors(port: port) == 0 }
        #expect(leftover, "sockets of port \(port) still open: \(Self.socketDescriptors(port: port))")
        print("descriptors: \(descriptorsBefore) before, \(Self.allDescriptors()) after (the whole process, tests in parallel included)")
    }

    /// A client context that cannot make a connection (out of memory, a refused name…)
    /// once TCP is up: `TLSStream.connect` throws and the connected socket is closed.
    @Test func connectClosesTheSocketWhenNoConnectionCanBeMade() async throws {
        final class Refusing: TLSClientContext {
            let backendName = "refusing"
            let configuration = TLSClientConfiguration()
            func makeConnection(serverName: TLSServerName?) throws(TLSError) -> any TLSConnection {
                throw TLSError(.internal, "no connection today")
            }
        }
        let pki = InteropPKI.shared
        let serverContext = try TestBackends.all[0].make().makeServerContext(
            TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        let listener = try TLSListener(host: "127.0.0.1", port: 0, context: serverContext)
        defer { listener.close() }
        for _ in 0..<5 {
            await #expect(throws: TLSError(.internal)) {
                _ = try await TLSStream.connect(
                    host: "127.0.0.1", port: listener.port, context: Refusing(), serverName: try TLSServerName("localhost"))
            }
            try? listener.accept().close()  // already in the backlog: does not block
        }
        // Only the listening socket is left.
        let closed = await Self.eventually(seconds: 5) { Self.socketDescriptors(port: listener.port) == 1 }
        #expect(closed, "client sockets left open: \(Self.socketDescriptors(port: listener.port) - 1)")
    }

    /// `TLSListener.close()` while other threads are blocked in `accept()`: each accept
    /// throws `.closed` promptly, and a listener opened right after (which may get the same
    /// descriptor number) gets its own connection, not one of the old accepts.
    @Test(arguments: TestBackends.all)
    func closingAListenerWakesEveryAccept(backend: BackendUnderTest) throws {
        let pki = InteropPKI.shared
        let context = try backend.make().makeServerContext(TLSServerConfiguration(certificateChain: pki.ecdsa.identity.signingChain))
        for round in 0..<20 {
            let old = try TLSListener(host: "127.0.0.1", port: 0, context: context)
            let oldNumber = old.fileDescriptor
            let results = Locked<[String]>([])
            let group = DispatchGroup()
            for _ in 0..<4 {
                group.enter()
                Thread.detachNewThread {
                    defer { group.leave() }
                    do {
                        let socket = try old.accept()
                        results.withLock { $0.append("accepted fd \(socket.fileDescriptor)") }
                        socket.close()
                    } catch {
                        results.withLock { $0.append((error as? TLSError)?.code == .closed ? "closed" : "\(error)") }
                    }
                }
            }
            Thread.sleep(forTimeInterval: round % 2 == 0 ? 0.02 : 0.0)  // blocked in accept(), or still entering it
            let closedAt = ContinuousClock.now
            old.close()
            // Take the number back at once, as another thread of a server would.
            let new = try TLSListener(host: "127.0.0.1", port: 0, context: context)
            #expect(group.wait(timeout: .now() + 2) == .success, "round \(round): accept() did not return within 2 s of close()")
            #expect(ContinuousClock.now - closedAt < .seconds(2))
            #expect(results.withLock { $0 } == ["closed", "closed", "closed", "closed"], "round \(round)")

            // The new listener's connection reaches the new listener.
            let peer = try POSIXConnect.to(port: new.port)
            defer { Glibc.close(peer) }
            let accepted = try new.accept()
            #expect(accepted.fileDescriptor >= 0)
            accepted.close()
            new.close()
            if round == 0 { print("listener fd \(oldNumber) closed; the next listener got fd \(new.fileDescriptor)") }
        }
    }
}
