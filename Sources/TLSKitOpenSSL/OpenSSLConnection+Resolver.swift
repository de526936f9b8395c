internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit

/// The server's certificate resolver: asked from the ClientHello callback, before OpenSSL
/// has chosen a certificate, a version or a cipher suite.
let clientHelloCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32 = {
    ssl, alert, _ in
    // Registered only on contexts with a resolver: without the connection there is no one
    // to ask, so the handshake must not go on with a default chain.
    guard let ssl, let connection = OpenSSLConnection.from(ssl) else { return SSL_CLIENT_HELLO_ERROR }
    return connection.resolveCertificate(alert: alert)
}

extension OpenSSLConnection {
    /// Asks the context's resolver which chain to present and switches to its `SSL_CTX`.
    func resolveCertificate(alert: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let server = serverContext, let resolver = server.resolver else { return SSL_CLIENT_HELLO_SUCCESS }
        let hello = clientHelloInfo()
        switch resolver(hello) {
        case .configured:
            return SSL_CLIENT_HELLO_SUCCESS
        case .chain(let chain):
            do {
                let resolved = try server.loadResolved(chain)
                guard SSL_set_SSL_CTX(ssl, resolved.pointer) != nil else {
                    resolverFailure = TLSError(
                        .internal, "OpenSSL could not switch to the certificate resolver's chain",
                        backendErrors: OpenSSLErrorStack.drain().map(\.text), feature: "certificateResolver")
                    alert?.pointee = SSL_AD_INTERNAL_ERROR
                    return SSL_CLIENT_HELLO_ERROR
                }
                resolvedHandle = resolved
                return SSL_CLIENT_HELLO_SUCCESS
            } catch {
                resolverFailure = TLSError.resolvedChainDidNotLoad(error, serverName: hello.serverName)
                alert?.pointee = SSL_AD_INTERNAL_ERROR
                return SSL_CLIENT_HELLO_ERROR
            }
        case .reject(let reason):
            resolverFailure = TLSError.resolverRejected(reason, serverName: hello.serverName)
            alert?.pointee = SSL_AD_UNRECOGNIZED_NAME
            return SSL_CLIENT_HELLO_ERROR
        }
    }

    /// The server name, signature schemes and ALPN offer of the ClientHello being processed.
    private func clientHelloInfo() -> TLSClientHelloInfo {
        func body(_ type: UInt32) -> UnsafeRawBufferPointer? {
            var out: UnsafePointer<UInt8>?
            var count = 0
            guard SSL_client_hello_get0_ext(ssl, type, &out, &count) == 1, let out else { return nil }
            return UnsafeRawBufferPointer(start: out, count: count)
        }
        return TLSClientHelloInfo(
            serverName: body(0).flatMap(TLSClientHelloExtensions.serverName),
            signatureSchemes: body(13).map(TLSClientHelloExtensions.signatureSchemes) ?? [],
            applicationProtocols: body(16).map(TLSClientHelloExtensions.applicationProtocols) ?? [])
    }
}
