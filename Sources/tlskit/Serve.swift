import ArgumentParser
import Foundation
import TLSKit
import TLSKitIO
import TLSKitX509

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve TLS on HOST:PORT until SIGINT or SIGTERM; SIGHUP reloads --cert, --key, --ocsp-response and --sni-cert.",
        discussion:
            "Prints 'listening on HOST:PORT' once ready. Modes: echo (default) or http (one HTTP/1.0 response, like openssl s_server -www). Connections are served concurrently on SwiftNIO (TLSKitNIO); --starttls smtp uses a thread per connection."
    )

    enum Mode: String, ExpressibleByArgument { case echo, http }
    enum StartTLS: String, ExpressibleByArgument { case smtp }

    @Option(help: "Address to listen on, HOST:PORT (port 0: any free port).")
    var listen: String
    @Option(help: "Certificate chain, leaf first: a PEM file or an identifier URI (pkcs11:…;type=cert).")
    var cert: String
    @Option(help: "Private key: a file path or an identifier URI.")
    var key: String
    @Option(name: .customLong("key-passphrase-env"), help: "Environment variable holding the key's passphrase or PIN.")
    var keyPassphraseEnv: String?
    @Option(name: .customLong("client-ca"), help: "PEM file with CAs for client certificates; makes them required.")
    var clientCA: String?
    @Option(
        name: .customLong("allow-client"),
        help:
            "With --client-ca: accept only clients whose certificate matches (repeatable): dns:NAME, dns:*.DOMAIN, ip:ADDR, uri:URI, email:ADDR, spiffe://DOMAIN/PATH (or /*), cn:/o:/ou:VALUE."
    )
    var allowClient: [String] = []
    @Option(help: "Comma-separated ALPN protocols, most preferred first.")
    var alpn: String?
    @OptionGroup var versions: VersionOptions
    @OptionGroup var policyOptions: PolicyOptions
    @Option(
        name: .customLong("sni-cert"),
        help: "Another chain for clients that ask for NAME by SNI (repeatable): NAME=CERT,KEY; --cert/--key stay the default.")
    var sniCerts: [String] = []
    @Option(
        name: .customLong("ocsp-response"),
        help: "DER OCSP response for --cert to staple for clients that ask (openssl ocsp -respout); SIGHUP reads it again.")
    var ocspResponse: String?
    @Option(help: "echo or http.")
    var mode: Mode = .echo
    @Option(help: "Append the session secrets (NSS key-log format) to FILE; SSLKEYLOGFILE works too. INSECURE.")
    var keylog: String?
    @Option(help: "Start in cleartext and upgrade with STARTTLS: smtp (a minimal SMTP server; --mode is then ignored).")
    var starttls: StartTLS?
    @Option(
        name: .customLong("max-connections"),
        help: "Most connections served at once; more are closed at once, with one log line each.")
    var maxConnections: Int = 10_000
    @Option(
        name: .customLong("idle-timeout"),
        help:
            "Close a connection idle (no input, no output) for SECONDS after its handshake; 0: never. The STARTTLS (thread) path applies it to each read and write."
    )
    var idleTimeout: Double = 300
    @OptionGroup var backendOptions: BackendOptions

    /// What one `serve` holds at most: connections, and how long an idle one stays.
    struct Limits {
        var maxConnections: Int
        /// Seconds; `nil`: never.
        var idleTimeout: Double?
    }

    /// The chains the arguments describe: --cert/--key first, then each --sni-cert.
    func chains() throws -> [TLSSigningChain] {
        var chains = [
            TLSSigningChain(
                certificate: CLI.certificate(cert), privateKey: CLI.key(key, passphraseEnv: keyPassphraseEnv),
                ocspResponse: ocspResponse.map { .file($0) })
        ]
        for entry in sniCerts {
            // NAME=CERT,KEY: the name documents the intent; the server picks the chain
            // whose certificate is valid for the name the client sends.
            guard let equals = entry.firstIndex(of: "="), let comma = entry.lastIndex(of: ","), equals < comma else {
                throw CLIError.usage("--sni-cert takes NAME=CERT,KEY, not '\(entry)'")
            }
            let certificate = String(entry[entry.index(after: equals)..<comma])
            let key = String(entry[entry.index(after: comma)...])
            chains.append(TLSSigningChain(certificate: CLI.certificate(certificate), privateKey: CLI.key(key, passphraseEnv: keyPassphraseEnv)))
        }
        return chains
    }

    func run() throws {
        let listener: TLSListener
        let context: any TLSServerContext
        do {
            let (host, port) = try CLI.hostPort(listen)
            let backend = try backendOptions.makeBackend()
            var config = TLSServerConfiguration(certificateChains: try chains())
            config.applicationProtocols = try CLI.alpn(alpn)
            (config.minimumVersion, config.maximumVersion) = try versions.parsed()
            if let clientCA { config.trustStore = .file(clientCA) }
            try policyOptions.apply(to: &config)
            var hooks = TLSContextHooks()
            if !allowClient.isEmpty {
                guard clientCA != nil else { throw CLIError.usage("--allow-client needs --client-ca (client certificates are only requested then)") }
                hooks.addVerificationPolicy(.allowPeers(try allowClient.map { try TLSPeerIdentityPattern($0) }))
            }
            try KeyLogFile.attach(keylog, to: &hooks)
            guard maxConnections > 0 else { throw CLIError.usage("--max-connections must be at least 1") }
            guard idleTimeout >= 0, idleTimeout.isFinite else { throw CLIError.usage("--idle-timeout must be 0 (never) or a number of seconds") }
            context = try backend.makeServerContext(config, hooks: hooks)
            Reloader.watch(context, describedBy: self)
            signal(SIGINT) { _ in _exit(0) }
            signal(SIGTERM) { _ in _exit(0) }
            signal(SIGPIPE, SIG_IGN)
            if starttls == nil {
                // Many connections at once: SwiftNIO with TLSKitNIO.
                try ServeNIO.run(host: host, port: Int(port), context: context, mode: mode, limits: limits)
            }
            listener = try TLSListener(host: host, port: port, context: context)
            listener.timeout = .seconds(30)
        } catch {
            CLI.exit(for: error)
        }
        let shown = listener.host.contains(":") ? "[\(listener.host)]" : listener.host
        printFlushed("listening on \(shown):\(listener.port)")

        let open = ConnectionCount()
        var backoff = 0.0
        while true {
            let socket: TLSSocket
            do {
                socket = try listener.accept()
                backoff = 0
            } catch {
                // Out of descriptors (EMFILE, ENFILE) or another accept failure: wait, doubling up
                // to 1 s, instead of spinning on a listener that stays readable. One line per step.
                backoff = min(max(backoff * 2, 0.01), 1)
                FileHandle.standardError.write(Data("tlskit: accept failed: \(error.message); retrying in \(backoff) s\n".utf8))
                Thread.sleep(forTimeInterval: backoff)
                continue
            }
            guard open.admit(maximum: maxConnections) else {
                FileHandle.standardError.write(
                    Data(
                        "tlskit: refused connection from \(socket.peerAddress ?? "?"): --max-connections \(maxConnections) reached\n".utf8))
                socket.close()
                continue
            }
            let idle: Duration? = idleTimeout > 0 ? .milliseconds(Int64(idleTimeout * 1000)) : nil
            let box = Handoff(socket)
            let mode = self.mode
            let starttls = self.starttls
            Thread.detachNewThread {
                defer { open.release() }
                if starttls == .smtp {
                    Serve.handleSMTP(box.value, idleTimeout: idle)
                } else {
                    Serve.handle(box.value, mode: mode)
                }
            }
        }
    }

    var limits: Limits { Limits(maxConnections: maxConnections, idleTimeout: idleTimeout > 0 ? idleTimeout : nil) }

    /// The thread-per-connection path's count of open connections.
    final class ConnectionCount: @unchecked Sendable {
        // @unchecked: `count` is guarded by `lock`.
        private let lock = NSLock()
        private var count = 0
        func admit(maximum: Int) -> Bool {
            lock.withLock {
                guard count < maximum else { return false }
                count += 1
                return true
            }
        }
        func release() { lock.withLock { count -= 1 } }
    }

    static func handle(_ socket: TLSSocket, mode: Mode) {
        defer { socket.close() }
        let peer = socket.peerAddress ?? "?"
        do {
            try socket.handshake()
            switch mode {
            case .echo:
                while let chunk = try socket.receive() { try socket.send(chunk) }
                try socket.shutdown(waitForPeer: false)
            case .http:
                var request: [UInt8] = []
                while request.count < 65_536 {
                    guard let chunk = try socket.receive() else { break }
                    request += chunk
                    if endsRequestHead(request) { break }
                }
                let info = socket.connectionInfo!
                var body = "TLSKit test server\r\n"
                body += "Protocol: \(info.protocolVersion)\r\nCipher: \(info.cipherSuite)\r\n"
                body += "ALPN: \(info.applicationProtocol.map { "\($0)" } ?? "(none)")\r\n"
                body += "Client certificate: \(info.peerVerification)\r\n"
                let response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
                try socket.send(response)
                try socket.shutdown(waitForPeer: true)
            }
        } catch {
            FileHandle.standardError.write(Data("tlskit: connection from \(peer): \(error.code): \(error.message)\n".utf8))
        }
    }

    /// SMTP with STARTTLS: cleartext greeting and EHLO, then TLS, then a minimal mail sink.
    static func handleSMTP(_ socket: TLSSocket, idleTimeout: Duration?) {
        defer { socket.close() }
        let peer = socket.peerAddress ?? "?"
        do {
            guard try SMTP.serverStartTLS(socket.fileDescriptor) else { return }
            try socket.handshake()
            socket.setTimeout(idleTimeout)  // after the handshake: the idle time-out for each read and write
            let messages = try SMTP.serve(socket)
            printFlushed("smtp from \(peer): \(messages) message(s) over \(socket.connectionInfo.map { "\($0.protocolVersion)" } ?? "?")")
        } catch {
            FileHandle.standardError.write(Data("tlskit: connection from \(peer): \(error.code): \(error.message)\n".utf8))
        }
    }

    /// Whether an HTTP request head is complete: an empty line, as `openssl s_server -www`
    /// reads it, with lines ending in CRLF or a bare LF (`\n\n`, `\n\r\n`; CRLF CRLF
    /// contains the latter).
    static func endsRequestHead(_ bytes: [UInt8]) -> Bool {
        containsTerminator(bytes, [0x0A, 0x0A]) || containsTerminator(bytes, [0x0A, 0x0D, 0x0A])
    }

    static func containsTerminator(_ bytes: [UInt8], _ end: [UInt8]) -> Bool {
        guard bytes.count >= end.count else { return false }
        for i in 0...(bytes.count - end.count) where bytes[i] == end[0] && Array(bytes[i..<i + end.count]) == end {
            return true
        }
        return false
    }
}
