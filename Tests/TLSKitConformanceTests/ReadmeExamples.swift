import TLSKit
import TLSKitIO
import TLSKitOpenSSL

/// The README's examples, kept compiling. They are not run (they need the network or
/// files); the conformance and interop tests exercise the same calls.
enum ReadmeExamples {
    static func client() throws {
        let backend = try OpenSSLBackend()
        let context = try backend.makeClientContext(TLSClientConfiguration())  // system roots, TLS 1.2+, name checked
        let socket = try TLSSocket.connect(host: "example.com", port: 443, context: context)
        try socket.send("GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
        while let chunk = try socket.receive() { print(String(decoding: chunk, as: UTF8.self), terminator: "") }
        try socket.shutdown()
    }

    static func server() throws {
        let backend = try OpenSSLBackend()
        var config = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .file("server.pem"), privateKey: .file("server.key")))
        config.trustStore = .file("clients-ca.pem")  // ⇒ client certificates required (mutual TLS)
        let listener = try TLSListener(host: "0.0.0.0", port: 8443, context: backend.makeServerContext(config))
        while true {
            let socket = try listener.accept()
            try socket.handshake()  // peer: socket.connectionInfo!.peerCertificates (DER)
            if let message = try socket.receive() { try socket.send(message) }
            try socket.shutdown()
        }
    }
}
