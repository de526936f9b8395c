import CTLSKitBenchShim
import TLSKit
import TLSKitGnuTLS
import TLSKitOpenSSL

// TLSKitBench: the workloads of reference/tls_memory.c, through TLSKit's public API,
// so the two can be compared run for run. One JSON object per run on stdout.
//
//   TLSKitBench handshake --certdir DIR --cert ecdsa|rsa [--iters 1000] [--warmup 50]
//   TLSKitBench resume --certdir DIR --cert ecdsa|rsa [--iters 1000] [--warmup 50]
//   TLSKitBench bulk --certdir DIR [--cipher aes128|chacha20] [--mib 1024] [--warmup-mib 16]
//   TLSKitBench memory --certdir DIR [--conns 1000]
//   TLSKitBench scale --certdir DIR [--threads 2] [--seconds 5] [--resume]   (Scale.swift)
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: String) -> String {
    guard let i = arguments.firstIndex(of: "--" + name), i + 1 < arguments.count else { return fallback }
    return arguments[i + 1]
}
func die(_ message: String) -> Never {
    let line = "fatal: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(1)
}
func now(_ clock: clockid_t) -> Double {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

let certdir = option("certdir", "certs")
let backendName = option("backend", "openssl")
nonisolated(unsafe) let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)

/// Moves every pending byte from one connection to the other through a caller-owned
/// buffer (the C harness's `pump` with `--bio mem`).
@inline(__always)
func pump(_ from: any TLSConnection, _ to: any TLSConnection, through buffer: UnsafeMutableRawBufferPointer = scratch) {
    while true {
        let n = from.drainOutput(into: buffer)
        if n == 0 { return }
        do { try to.receive(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) } catch { die("receive: \(error)") }
    }
}

/// The server's backend: as the client's, plus providers/engines for a key held elsewhere
/// (`--server-key handle:0x81000001 --providers default,tpm2 --propquery ?tpm2.signature`).
func serverBackend() throws -> any TLSBackend {
    if backendName == "gnutls" { return try GnuTLSBackend() }
    let providers = option("providers", "default").split(separator: ",").map { name -> OpenSSLProvider in
        name == "tpm2" && arguments.contains("--tcti") ? .tpm2(tcti: option("tcti", "")) : OpenSSLProvider(String(name))
    }
    let engines: [OpenSSLEngine] =
        option("engine", "") == "pkcs11" ? [.pkcs11(modulePath: option("pkcs11-module", "").isEmpty ? nil : option("pkcs11-module", ""))] : []
    let query = option("propquery", "")
    return try OpenSSLBackend(providers: providers, propertyQuery: query.isEmpty ? nil : query, engines: engines)
}

/// The TLS 1.3 suite for `--cipher` (the C reference's short names).
func suite(_ cipher: String) -> TLSCipherSuite {
    switch cipher {
    case "aes128": return .tlsAES128GCMSHA256
    case "aes256": return .tlsAES256GCMSHA384
    case "chacha20", "chacha": return .tlsCHACHA20POLY1305SHA256
    default: die("--cipher is aes128, aes256 or chacha20, not '\(cipher)'")
    }
}

func contexts(
    cert: String, suite: TLSCipherSuite = .tlsAES128GCMSHA256, resumesSessions: Bool = false,
    groups: [TLSNamedGroup]? = nil
) -> (any TLSClientContext, any TLSServerContext) {
    do {
        let backend: any TLSBackend = backendName == "gnutls" ? try GnuTLSBackend() : try OpenSSLBackend()
        var client = TLSClientConfiguration(trustStore: .file(option("ca", "\(certdir)/\(cert)-ca.pem")))
        client.minimumVersion = .tls1_3
        client.cipherSuites = [suite]
        client.serverName = try TLSServerName("localhost")
        client.resumesSessions = resumesSessions  // off: full handshakes, as the C reference does
        client.keyExchangeGroups = groups
        let keySpec = option("server-key", "\(certdir)/\(cert)-leaf.key")
        let key: TLSPrivateKey = keySpec.contains(":") && !keySpec.hasPrefix("/") ? .identifier(keySpec) : .file(keySpec)
        var server = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .file(option("server-cert", "\(certdir)/\(cert)-leaf.pem")), privateKey: key))
        server.minimumVersion = .tls1_3
        server.cipherSuites = [suite]
        server.keyExchangeGroups = groups
        return (try backend.makeClientContext(client), try serverBackend().makeServerContext(server))
    } catch {
        die("contexts: \(error)")
    }
}

func connectedPair(
    _ c: any TLSClientContext, _ s: any TLSServerContext, through buffer: UnsafeMutableRawBufferPointer = scratch
) -> (any TLSConnection, any TLSConnection) {
    do {
        let client = try c.makeConnection()
        let server = try s.makeConnection()
        var clientDone = false
        var serverDone = false
        while !clientDone || !serverDone {
            if !clientDone { clientDone = try client.handshake() == .complete }
            pump(client, server, through: buffer)
            if !serverDone { serverDone = try server.handshake() == .complete }
            pump(server, client, through: buffer)
        }
        // The client consumes the NewSessionTickets.
        var byte: UInt8 = 0
        let result = try withUnsafeMutableBytes(of: &byte) { try client.read(into: $0) }
        guard result == .needsInput else { die("unexpected application data") }
        return (client, server)
    } catch {
        die("handshake: \(error)")
    }
}

func close(_ client: any TLSConnection, _ server: any TLSConnection, through buffer: UnsafeMutableRawBufferPointer = scratch) {
    do {
        _ = try client.shutdown()
        pump(client, server, through: buffer)
        var byte: UInt8 = 0
        guard try withUnsafeMutableBytes(of: &byte, { try server.read(into: $0) }) == .closed else {
            die("server did not see close_notify")
        }
        guard try server.shutdown() == .complete else { die("server shutdown") }
        pump(server, client, through: buffer)
        guard try client.shutdown() == .complete else { die("client shutdown") }
    } catch {
        die("shutdown: \(error)")
    }
}

func runHandshake() {
    let cert = option("cert", "ecdsa")
    let iters = Int(option("iters", "1000"))!
    let warmup = Int(option("warmup", "50"))!
    let (c, s) = contexts(cert: cert)
    var wall0 = 0.0
    var cpu0 = 0.0
    var suite = ""
    var group = ""
    for i in 0..<(warmup + iters) {
        if i == warmup {
            wall0 = now(CLOCK_MONOTONIC)
            cpu0 = now(CLOCK_PROCESS_CPUTIME_ID)
        }
        let (client, server) = connectedPair(c, s)
        if i == 0 {
            guard let info = client.connectionInfo, info.peerVerification == .verified else { die("not verified") }
            suite = "\(info.cipherSuite)"
            group = info.keyExchangeGroup.map { "\($0)" } ?? "?"
        }
        close(client, server)
    }
    let wall = iters > 0 ? now(CLOCK_MONOTONIC) - wall0 : 0
    let cpu = iters > 0 ? now(CLOCK_PROCESS_CPUTIME_ID) - cpu0 : 0
    print(
        "{\"impl\":\"tlskit-\(backendName)\",\"bench\":\"handshake\",\"cert\":\"\(cert)\",\"iters\":\(iters),"
            + "\"wall_s\":\(wall),\"cpu_s\":\(cpu),\"hs_per_s\":\(wall > 0 ? Double(iters) / wall : 0),"
            + "\"hs_per_cpu_s\":\(cpu > 0 ? Double(iters) / cpu : 0),\"cipher\":\"\(suite)\",\"group\":\"\(group)\"}")
}

/// The measured part of a `resume` iteration: both connections made (the client takes its
/// ticket), the resumed handshake, the tickets sent after it read, closed, released. Whether
/// both sides resumed with AES-128-GCM. Not inlined, so the connections die inside it.
@inline(never)
func resumedConnection(_ c: any TLSClientContext, _ s: any TLSServerContext, group: inout String, record: Bool) -> Bool {
    let (client, server) = connectedPair(c, s)
    let good =
        client.connectionInfo?.resumed == true && server.connectionInfo?.resumed == true
        && client.connectionInfo?.cipherSuite == .tlsAES128GCMSHA256
    if record { group = client.connectionInfo?.keyExchangeGroup.map { "\($0)" } ?? "none" }
    close(client, server)
    return good
}

/// TLS 1.3 resumption, as `tls_memory resume` (see there): per iteration a connection that
/// is not measured hands the client context a fresh ticket (TLSKit's GnuTLS server sends
/// tickets after full handshakes only), then the measured resumed connection offers it.
func runResume() {
    let cert = option("cert", "ecdsa")
    let iters = Int(option("iters", "1000"))!
    let warmup = Int(option("warmup", "50"))!
    // X25519 named: GnuTLS would otherwise pick secp256r1 (OpenSSL's default is X25519).
    let (c, s) = contexts(cert: cert, resumesSessions: true, groups: [.x25519])
    var wall = 0.0
    var cpu = 0.0
    var groupName = "?"
    for i in 0..<(warmup + iters) {
        let (client, server) = connectedPair(c, s)  // not measured: a ticket for the next one
        if i == 0 {
            guard let info = client.connectionInfo, info.peerVerification == .verified, !info.resumed else {
                die("the first handshake was not a full one with the server verified")
            }
        }
        close(client, server)
        let measured = i >= warmup
        let wall0 = measured ? now(CLOCK_MONOTONIC) : 0
        let cpu0 = measured ? now(CLOCK_PROCESS_CPUTIME_ID) : 0
        if measured { CTLSKitBenchShim_callgrind_toggle_collect() }
        let good = resumedConnection(c, s, group: &groupName, record: i == 0)
        if measured {
            CTLSKitBenchShim_callgrind_toggle_collect()
            cpu += now(CLOCK_PROCESS_CPUTIME_ID) - cpu0
            wall += now(CLOCK_MONOTONIC) - wall0
        }
        if !good { die("handshake \(i) was not resumed with TLS_AES_128_GCM_SHA256") }
        if i == 0 && groupName != "\(TLSNamedGroup.x25519)" { die("key exchange \(groupName), not X25519") }
    }
    print(
        "{\"impl\":\"tlskit-\(backendName)\",\"bench\":\"resume\",\"cert\":\"\(cert)\",\"iters\":\(iters),"
            + "\"wall_s\":\(wall),\"cpu_s\":\(cpu),\"hs_per_s\":\(wall > 0 ? Double(iters) / wall : 0),"
            + "\"hs_per_cpu_s\":\(cpu > 0 ? Double(iters) / cpu : 0),\"cipher\":\"TLS_AES_128_GCM_SHA256\",\"group\":\"\(groupName)\"}")
}

func runBulk() {
    let mib = Int(option("mib", "1024"))!
    let warmupMiB = Int(option("warmup-mib", "16"))!
    let writeSize = 16_384
    let cipher = option("cipher", "aes128")
    let (c, s) = contexts(cert: "ecdsa", suite: suite(cipher))
    let (client, server) = connectedPair(c, s)
    guard client.connectionInfo?.cipherSuite == suite(cipher) else { die("not \(suite(cipher))") }
    let data = UnsafeMutableRawBufferPointer.allocate(byteCount: writeSize, alignment: 16)
    for i in 0..<writeSize { data[i] = UInt8(truncatingIfNeeded: i) }
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: writeSize, alignment: 16)
    let warmupWrites = warmupMiB * (1 << 20) / writeSize
    let writes = mib * (1 << 20) / writeSize
    var wall0 = 0.0
    var cpu0 = 0.0
    do {
        for i in 0..<(warmupWrites + writes) {
            if i == warmupWrites {
                wall0 = now(CLOCK_MONOTONIC)
                cpu0 = now(CLOCK_PROCESS_CPUTIME_ID)
            }
            guard try client.write(UnsafeRawBufferPointer(data)) == writeSize else { die("short write") }
            pump(client, server)
            var received = 0
            while received < writeSize {
                switch try server.read(into: readBuffer) {
                case .bytes(let n): received += n
                case .needsInput, .closed: die("server read stalled at \(received)")
                }
            }
        }
    } catch {
        die("bulk: \(error)")
    }
    let wall = writes > 0 ? now(CLOCK_MONOTONIC) - wall0 : 0
    let cpu = writes > 0 ? now(CLOCK_PROCESS_CPUTIME_ID) - cpu0 : 0
    let bytes = Double(writes * writeSize)
    print(
        "{\"impl\":\"tlskit-\(backendName)\",\"bench\":\"bulk\",\"cipher\":\"\(cipher)\",\"suite\":\"\(client.connectionInfo!.cipherSuite)\","
            + "\"write_size\":\(writeSize),\"bytes\":\(Int(bytes)),\"wall_s\":\(wall),\"cpu_s\":\(cpu),"
            + "\"MBps\":\(wall > 0 ? bytes / wall / 1e6 : 0),\"MBps_cpu\":\(cpu > 0 ? bytes / cpu / 1e6 : 0)}")
}

func heapInUse() -> Int {
    Int(CTLSKitBenchShim_heap_in_use())
}

func residentBytes() -> Int {
    guard let file = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(file) }
    var size = 0
    var resident = 0
    _ = withUnsafeMutablePointer(to: &size) { sp in
        withUnsafeMutablePointer(to: &resident) { rp in
            withVaList([sp, rp]) { vfscanf(file, "%ld %ld", $0) }
        }
    }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func runMemory() {
    let conns = Int(option("conns", "1000"))!
    let (c, s) = contexts(cert: "ecdsa")
    // Warm up: the first connections allocate lazily initialised library state.
    for _ in 0..<10 {
        let (a, b) = connectedPair(c, s)
        close(a, b)
    }
    var pairs: [(any TLSConnection, any TLSConnection)] = []
    pairs.reserveCapacity(conns)
    let heap0 = heapInUse()
    let rss0 = residentBytes()
    for _ in 0..<conns { pairs.append(connectedPair(c, s)) }
    let heap = heapInUse() - heap0
    let rss = residentBytes() - rss0
    print(
        "{\"impl\":\"tlskit-\(backendName)\",\"bench\":\"memory\",\"conns\":\(conns),"
            + "\"heap_per_pair\":\(heap / conns),\"rss_per_pair\":\(rss / conns)}")
    withExtendedLifetime(pairs) {}
}

guard arguments.count >= 2 else { die("usage: TLSKitBench handshake|bulk|memory [--option value]...") }
switch arguments[1] {
case "handshake": runHandshake()
case "resume": runResume()
case "bulk": runBulk()
case "memory": runMemory()
case "scale": runScale()
case "socket-handshake": runSocket(bulk: false)
case "socket-bulk": runSocket(bulk: true)
default: die("unknown mode \(arguments[1])")
}
