import ArgumentParser
import Foundation
import TLSKit
import TLSKitIO

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mutual TLS on 127.0.0.1 with a throw-away CA, then one connection that is refused.")

    @OptionGroup var backendOptions: BackendOptions

    func run() throws {
        do {
            try runDemo()
        } catch {
            CLI.exit(for: error)
        }
    }

    private func runDemo() throws {
        let backend = try backendOptions.makeBackend()
        printFlushed("TLSKit demo — backend \(backend.name), \(backend.libraryVersion)")
        printFlushed("")

        // 1. A throw-away PKI, in memory.
        let ca = try DemoPKI(name: "TLSKit Demo CA")
        let serverChain = try ca.leaf(commonName: "localhost", dnsNames: ["localhost"], ipAddresses: [[127, 0, 0, 1]], forServers: true)
        let clientChain = try ca.leaf(commonName: "demo-client", dnsNames: ["demo-client.local"], ipAddresses: [], forServers: false)
        printFlushed("Made a CA, a server certificate (localhost, 127.0.0.1) and a client certificate (demo-client), ECDSA P-256.")

        // 2. A server requiring client certificates, on a random port.
        var serverConfig = TLSServerConfiguration(certificateChain: serverChain)
        serverConfig.trustStore = try ca.trustStore  // ⇒ client certificates required
        serverConfig.applicationProtocols = [.http2, .http1_1]
        let serverContext = try backend.makeServerContext(serverConfig)
        let listener = try TLSListener(host: "127.0.0.1", port: 0, context: serverContext)
        listener.timeout = .seconds(10)
        printFlushed("Server listening on 127.0.0.1:\(listener.port) (mutual TLS required, ALPN h2, http/1.1).")
        printFlushed("")

        let serverView = Handoff<(TLSConnectionInfo?, [UInt8], String?)>((nil, [], nil))
        let refusedView = Handoff<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let listenerBox = Handoff(listener)
        Thread.detachNewThread {
            let listener = listenerBox.value
            // First connection: echo one message.
            do {
                let socket = try listener.accept()
                try socket.handshake()
                let message = try socket.receive() ?? []
                try socket.send(message)
                serverView.value = (socket.connectionInfo, message, nil)
                try? socket.shutdown(waitForPeer: true)
                socket.close()
            } catch {
                serverView.value.2 = "\(error)"
            }
            // Second connection: the client will refuse us.
            do {
                let socket = try listener.accept()
                try socket.handshake()
                socket.close()
            } catch let error as TLSError {
                refusedView.value = "\(error.code): \(error.message)"
            } catch {
                refusedView.value = "\(error)"
            }
            done.signal()
        }

        // 3. The client: trusts the CA, presents its certificate, offers ALPN.
        var clientConfig = TLSClientConfiguration(trustStore: try ca.trustStore)
        clientConfig.certificateChain = clientChain
        clientConfig.applicationProtocols = [.http2]
        let clientContext = try backend.makeClientContext(clientConfig)
        let socket = try TLSSocket.connect(
            host: "127.0.0.1", port: listener.port, context: clientContext,
            serverName: try TLSServerName("localhost"), timeout: .seconds(10))
        let message = "hello from the TLSKit demo client"
        try socket.send(message)
        let echoed = try socket.receive() ?? []
        let clientInfo = socket.connectionInfo!
        try socket.shutdown(waitForPeer: true)
        socket.close()

        printFlushed("Client → server: verified the server as 'localhost'")
        for line in Report.lines(clientInfo) { printFlushed(line) }
        printFlushed("  sent          \"\(message)\"")
        printFlushed("  echoed back   \"\(String(decoding: echoed, as: UTF8.self))\"")
        printFlushed("")

        // 4. The refused connection: the right CA, the wrong name.
        let refused: TLSError
        do {
            let bad = try TLSSocket.connect(
                host: "127.0.0.1", port: listener.port, context: clientContext,
                serverName: try TLSServerName("wrong.example"), timeout: .seconds(10))
            bad.close()
            throw CLIError.failed("the connection to 'wrong.example' was accepted; hostname verification is broken")
        } catch let error as TLSError {
            refused = error
        }
        _ = done.wait(timeout: .now() + 10)
        listener.close()

        let (serverInfo, received, serverError) = serverView.value
        if let serverError { throw CLIError.failed("the demo server failed: \(serverError)") }
        guard let serverInfo else { throw CLIError.failed("the demo server saw no connection") }
        printFlushed("Server ← client: verified the client certificate against the demo CA")
        for line in Report.lines(serverInfo) { printFlushed(line) }
        printFlushed("  received      \"\(String(decoding: received, as: UTF8.self))\"")
        printFlushed("")

        printFlushed("Refused: the same client asked for 'wrong.example' (the certificate names localhost, 127.0.0.1)")
        printFlushed("  client error  \(refused.code): \(refused.message)")
        if let reason = refused.verificationFailure?.reason { printFlushed("  reason        \(reason)") }
        printFlushed("  server saw    \(refusedView.value ?? "(nothing)")")
        printFlushed("")

        guard echoed == Array(message.utf8), clientInfo.peerVerification == .verified,
            serverInfo.peerVerification == .verified, refused.verificationFailure?.reason == .hostnameMismatch
        else {
            throw CLIError.failed("the demo did not behave as expected")
        }
        printFlushed("Demo complete: one mutual-TLS exchange, one connection refused for the wrong host name.")
    }
}
