import Dispatch
import Synchronization
import TLSKit

#if canImport(Glibc)
import Glibc
#endif

// TLSKitBench scale: in-memory handshakes on N threads at once, every thread using the same
// client and server contexts (so the same SSL_CTX / credentials, the client's session cache
// and the server's ticket-key ring). With no lock on the hot path, 2 threads on 2 idle cores
// make close to twice the handshakes of 1.
//
//   TLSKitBench scale --certdir DIR [--threads 2] [--seconds 5] [--resume]
//
// --resume: the client context remembers sessions, so connections resume where the server
// sent a ticket (TLSKit's GnuTLS server sends them after full handshakes only, so there every
// other handshake resumes); the JSON reports how many did.

/// One shared pair of contexts; `Sendable`, as every context is.
struct SharedContexts: Sendable {
    let client: any TLSClientContext
    let server: any TLSServerContext
}

func runScale() {
    let cert = option("cert", "ecdsa")
    let threads = Int(option("threads", "2"))!
    let seconds = Double(option("seconds", "5"))!
    let resume = arguments.contains("--resume")
    let (c, s) = contexts(cert: cert, resumesSessions: resume, groups: [.x25519])
    let shared = SharedContexts(client: c, server: s)
    for _ in 0..<20 {  // warm up caches and tickets
        let (a, b) = connectedPair(c, s)
        close(a, b)
    }
    let totals = Mutex<(handshakes: Int, resumed: Int)>((0, 0))
    let wall0 = now(CLOCK_MONOTONIC)
    let cpu0 = now(CLOCK_PROCESS_CPUTIME_ID)
    let deadline = wall0 + seconds
    DispatchQueue.concurrentPerform(iterations: threads) { _ in
        // Each thread its own transfer buffer (the single-thread workloads share `scratch`).
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
        defer { buffer.deallocate() }
        var handshakes = 0
        var resumed = 0
        while now(CLOCK_MONOTONIC) < deadline {
            let (client, server) = connectedPair(shared.client, shared.server, through: buffer)
            handshakes += 1
            if server.connectionInfo?.resumed == true { resumed += 1 }
            close(client, server, through: buffer)
        }
        totals.withLock {
            $0.handshakes += handshakes
            $0.resumed += resumed
        }
    }
    let wall = now(CLOCK_MONOTONIC) - wall0
    let cpu = now(CLOCK_PROCESS_CPUTIME_ID) - cpu0
    let (handshakes, resumed) = totals.withLock { $0 }
    print(
        "{\"impl\":\"tlskit-\(backendName)\",\"bench\":\"scale\",\"cert\":\"\(cert)\",\"threads\":\(threads),"
            + "\"resume\":\(resume),\"handshakes\":\(handshakes),\"resumed\":\(resumed),\"wall_s\":\(wall),\"cpu_s\":\(cpu),"
            + "\"hs_per_s\":\(Double(handshakes) / wall),\"hs_per_cpu_s\":\(cpu > 0 ? Double(handshakes) / cpu : 0)}")
}
