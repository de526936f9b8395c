import ArgumentParser
import Foundation
import TLSKit
import TLSKitIO
import TLSKitInsecure
import TLSKitX509

struct Connect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect to a TLS server, verify it, and print what was negotiated.",
        discussion: "Exit 0 on a verified handshake, 2 on a handshake or verification failure, 1 on usage errors.")

    @Argument(help: "HOST:PORT to connect to ([v6]:PORT for IPv6).")
    var target: String
    @Option(name: .customLong("server-name"), help: "DNS name or IP address to verify the certificate against (default: HOST).")
    var serverName: String?
    @Option(help: "PEM file with the CA certificates to trust (default: the system trust store).")
    var ca: String?
    @Option(
        name: .customLong("pin"),
        help:
            "Trust exactly this server key instead of CAs (repeatable): sha256:BASE64 of its SubjectPublicKeyInfo. The name and validity period are not checked (DANE-EE); --json prints a server's pin."
    )
    var pins: [String] = []
    @Option(name: .customLong("allow-server"), help: "Accept only a server whose certificate matches (repeatable; forms as serve --allow-client).")
    var allowServer: [String] = []
    @Option(help: "Client certificate chain (mutual TLS): a PEM file or an identifier URI.")
    var cert: String?
    @Option(help: "Client private key: a file path or an identifier URI.")
    var key: String?
    @Option(name: .customLong("key-passphrase-env"), help: "Environment variable holding the key's passphrase or PIN.")
    var keyPassphraseEnv: String?
    @Option(help: "Comma-separated ALPN protocols to offer, most preferred first.")
    var alpn: String?
    @OptionGroup var versions: VersionOptions
    @OptionGroup var policyOptions: PolicyOptions
    @Option(help: "Text to send after the handshake (\\r, \\n and \\t are unescaped); the reply is printed.")
    var send: String?
    @Flag(help: "Print one JSON object instead of the report.")
    var json = false
    @Option(help: "Seconds to wait for connect, handshake and each read.")
    var timeout: Double = 10
    @Option(name: .customLong("verify-time"), help: "Verify the server's certificates as of this ISO 8601 time instead of now.")
    var verifyTime: String?
    @Option(
        help:
            "Connect this many more times with the same context, to show session resumption (with --send, each connection sends it and reads the answer)."
    )
    var reconnect: Int = 0
    @Option(help: "Append the session secrets (NSS key-log format) to FILE; SSLKEYLOGFILE works too. INSECURE.")
    var keylog: String?
    @Flag(
        help:
            "Require the server to staple a good OCSP response (verified against its certificate's issuer). Without it a stapled response is still checked, and a must-staple certificate still needs one."
    )
    var status = false
    @Option(help: "Start in cleartext and upgrade with STARTTLS: smtp.")
    var starttls: Serve.StartTLS?
    @Flag(
        name: .customLong("webpki"), inversion: .prefixedNo,
        help:
            "Also apply the Web PKI profile (swift-certificates' verifier) after the backend's verification. Default: on with the system trust store (no --ca, --pin or --insecure-*), off otherwise."
    )
    var webPKI: Bool?
    @Flag(name: .customLong("insecure-no-hostname-check"), help: "Do not check the server's name. INSECURE.")
    var insecureNoHostnameCheck = false
    @Flag(name: .customLong("insecure-no-verify"), help: "Do not verify the server at all. INSECURE.")
    var insecureNoVerify = false
    @OptionGroup var backendOptions: BackendOptions

    func run() throws {
        let backend: any TLSBackend
        let context: any TLSClientContext
        let host: String
        let port: UInt16
        let name: TLSServerName
        do {
            (host, port) = try CLI.hostPort(target)
            backend = try backendOptions.makeBackend()
            var config = TLSClientConfiguration(trustStore: ca.map { .file($0) } ?? .system)
            if !pins.isEmpty {
                guard ca == nil else { throw CLIError.usage("--pin replaces the CAs: give --pin or --ca, not both") }
                config.trustStore = .pinned(keys: try pins.map { try TLSPublicKeyPin($0) })
            }
            config.applicationProtocols = try CLI.alpn(alpn)
            if status { config.ocspStapling = .require }
            (config.minimumVersion, config.maximumVersion) = try versions.parsed()
            try policyOptions.apply(to: &config)
            if cert != nil || key != nil {
                guard let cert, let key else { throw CLIError.usage("--cert and --key go together") }
                config.certificateChain = TLSSigningChain(
                    certificate: CLI.certificate(cert), privateKey: CLI.key(key, passphraseEnv: keyPassphraseEnv))
            }
            name = try TLSServerName(serverName ?? host)
            if let verifyTime {
                let date = try CLI.parseTime(verifyTime)
                CLI.verificationTime = date
                config.verificationTime = TLSVerificationTime(secondsSince1970: Int64(date.timeIntervalSince1970))
            }
            if insecureNoVerify {
                config.insecurelyDisableCertificateVerification()
                CLI.warn("--insecure-no-verify: the server is not verified at all; anyone can impersonate it")
            } else if insecureNoHostnameCheck {
                config.insecurelyDisableHostnameVerification()
                CLI.warn("--insecure-no-hostname-check: the server's name is not checked; any certificate from a trusted CA is accepted")
            }
            // The Web PKI profile is the default against the system's roots (public servers);
            // --no-webpki turns it off, --webpki turns it on for private CAs too.
            let strict = webPKI ?? (ca == nil && pins.isEmpty && !insecureNoVerify && !insecureNoHostnameCheck)
            var hooks = strict ? TLSContextHooks.webPKI(verificationTime: CLI.verificationTime) : TLSContextHooks()
            if !allowServer.isEmpty {
                hooks.addVerificationPolicy(.allowPeers(try allowServer.map { try TLSPeerIdentityPattern($0) }))
            }
            try KeyLogFile.attach(keylog, to: &hooks)
            context = try backend.makeClientContext(config, hooks: hooks)
        } catch {
            CLI.exit(for: error)
        }

        let socket: TLSSocket
        do {
            let preamble: ((Int32) throws(TLSError) -> Void)? = starttls == .smtp ? { fd throws(TLSError) in try SMTP.clientStartTLS(fd) } : nil
            socket = try TLSSocket.connect(
                host: host, port: port, context: context, serverName: name, timeout: .milliseconds(Int(timeout * 1000)),
                beforeHandshake: preamble)
        } catch {
            if json { printFlushed(Report.json(nil, error: error, backend: backend.name, target: target)) }
            CLI.exit(for: error)
        }
        defer { socket.close() }
        let info = socket.connectionInfo!
        if json {
            // Printed once, after the reconnects, as one JSON document.
        } else {
            printFlushed("TLS connection to \(target) (verified as \(name)) — backend \(backend.name), \(backend.libraryVersion)")
            for line in Report.lines(info) { printFlushed(line) }
        }
        var reply: [UInt8] = []
        if let send {
            do {
                try socket.send(CLI.unescape(send))
                socket.setTimeout(.seconds(2))
                while let chunk = try socket.receive() {
                    if json { reply += chunk } else { FileHandle.standardOutput.write(Data(chunk)) }
                }
            } catch let error where error.code == .timeout {
                // No more data within the idle time-out: done.
            } catch {
                CLI.exit(for: error)
            }
        }
        if starttls == .smtp && send == nil {
            // Say goodbye properly inside TLS.
            try? socket.send("QUIT\r\n")
            socket.setTimeout(.seconds(2))
            if let reply = try? socket.receive() {
                printFlushed("SMTP: " + String(decoding: reply, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        socket.setTimeout(.seconds(2))
        try? socket.shutdown(waitForPeer: true)
        socket.close()

        let descriptorsBefore = Self.openDescriptors()
        var resumedCount = 0
        var reconnects: [[String: Any]] = []
        for attempt in 0..<max(0, reconnect) {
            do {
                let again = try TLSSocket.connect(
                    host: host, port: port, context: context, serverName: name, timeout: .milliseconds(Int(timeout * 1000)))
                let resumed = again.connectionInfo?.resumed == true
                if let send {
                    // The same request again; read the answer (and new tickets) until the server closes.
                    try again.send(CLI.unescape(send))
                    again.setTimeout(.seconds(2))
                    while let chunk = try? again.receive(), !chunk.isEmpty {}
                } else {
                    // Read what the server sends after the handshake (new tickets) before closing.
                    again.setTimeout(.milliseconds(200))
                    _ = try? again.receive()
                }
                try? again.shutdown(waitForPeer: false)
                again.close()
                if resumed { resumedCount += 1 }
                if json {
                    reconnects.append([
                        "version": again.connectionInfo.map { "\($0.protocolVersion)" } ?? NSNull(), "resumed": resumed,
                    ])
                } else if reconnect <= 10 || attempt == reconnect - 1 {
                    printFlushed(
                        "reconnect \(attempt + 1): \(again.connectionInfo.map { "\($0.protocolVersion)" } ?? "?"), resumed \(resumed ? "yes" : "no")")
                }
            } catch {
                CLI.exit(for: error)
            }
        }
        if json {
            var extra: [String: Any] = [:]
            if send != nil { extra["reply"] = String(decoding: reply, as: UTF8.self) }
            if reconnect > 0 {
                extra["reconnects"] = reconnects
                extra["resumedCount"] = resumedCount
                extra["openDescriptors"] = ["before": descriptorsBefore, "after": Self.openDescriptors()]
            }
            printFlushed(Report.json(info, error: nil, backend: backend.name, target: target, extra: extra))
        } else if reconnect > 0 {
            printFlushed(
                "reconnects: \(reconnect), resumed \(resumedCount); open descriptors before/after: \(descriptorsBefore)/\(Self.openDescriptors())")
        }
    }

    static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }
}
