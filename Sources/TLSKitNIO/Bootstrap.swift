public import NIOCore
public import TLSKit

/// Enables TLSKit on SwiftNIO's universal client bootstrap:
///
/// ```swift
/// let bootstrap = NIOClientTCPBootstrap(ClientBootstrap(group: group),
///                                       tls: TLSKitClientTLSProvider(context: context, serverName: "example.com"))
/// let channel = try await bootstrap.enableTLS().connect(host: "example.com", port: 443).get()
/// ```
///
/// Each connection gets its own ``TLSChannelHandler`` in front of the handlers the bootstrap's
/// initializer adds. If the context cannot make a connection (an invalid server name, say),
/// the channel fails with that `TLSError` as its first error and is closed.
///
/// Thread-safety: a value type holding a thread-safe context; use it from any thread.
public struct TLSKitClientTLSProvider<Bootstrap: NIOClientTCPBootstrapProtocol>: NIOClientTLSProvider, Sendable {
    /// The client context every connection is made from.
    public let context: any TLSClientContext
    /// The name every connection verifies and sends as SNI.
    public let serverName: String
    /// How long each handshake may take; `nil` waits for ever.
    public let handshakeTimeout: TimeAmount?
    /// Each connection's buffer limit (see ``TLSChannelHandler/bufferLimit``).
    public let bufferLimit: Int
    /// Each connection's idle time-out (see ``TLSChannelHandler/idleTimeout``); `nil`: none.
    public let idleTimeout: TimeAmount?

    /// A provider that gives every connection of the bootstrap a client-side ``TLSChannelHandler``.
    ///
    /// - Parameters:
    ///   - context: the client context every connection is made from.
    ///   - serverName: the name (DNS or IP address) to verify and to send as SNI.
    ///   - handshakeTimeout: see ``TLSChannelHandler/init(connection:handshakeTimeout:bufferLimit:idleTimeout:)``; default 30 s.
    ///   - bufferLimit: see ``TLSChannelHandler/bufferLimit``; default 64 KiB.
    ///   - idleTimeout: see ``TLSChannelHandler/idleTimeout``; default `nil` (none).
    public init(
        context: any TLSClientContext, serverName: String, handshakeTimeout: TimeAmount? = .seconds(30),
        bufferLimit: Int = TLSChannelHandler.defaultBufferLimit, idleTimeout: TimeAmount? = nil
    ) {
        self.context = context
        self.serverName = serverName
        self.handshakeTimeout = handshakeTimeout
        self.bufferLimit = bufferLimit
        self.idleTimeout = idleTimeout
    }

    /// Called by `NIOClientTCPBootstrap.enableTLS()`: makes the bootstrap put a handler in
    /// front of each new connection's other handlers.
    public func enableTLS(_ bootstrap: Bootstrap) -> Bootstrap {
        let context = self.context
        let serverName = self.serverName
        let (timeout, limit, idle) = (handshakeTimeout, bufferLimit, idleTimeout)
        return bootstrap.protocolHandlers {
            do {
                let connection = try context.makeConnection(serverName: try TLSServerName(serverName))
                return [TLSChannelHandler(connection: connection, handshakeTimeout: timeout, bufferLimit: limit, idleTimeout: idle)]
            } catch {
                return [FailedTLSSetup(error: error)]
            }
        }
    }
}

/// Stands in for a TLS handler that could not be made: reports the error and closes.
final class FailedTLSSetup: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let error: any Error
    init(error: any Error) { self.error = error }
    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { report(context) }
    }
    func channelActive(context: ChannelHandlerContext) { report(context) }
    private func report(_ context: ChannelHandlerContext) {
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Adds a client-side ``TLSChannelHandler`` verifying `serverName`, and returns it (for
    /// ``TLSChannelHandler/connectionInfo`` or ``TLSChannelHandler/stopTLS(promise:)`` later).
    /// Call it in a channel initializer, before the handlers that speak the application protocol.
    /// `bufferLimit` and `idleTimeout` are the handler's (see ``TLSChannelHandler/bufferLimit``
    /// and ``TLSChannelHandler/idleTimeout``); defaults 64 KiB and none.
    @discardableResult
    public func addTLSClientHandler(
        context: any TLSClientContext, serverName: String, handshakeTimeout: TimeAmount? = .seconds(30),
        bufferLimit: Int = TLSChannelHandler.defaultBufferLimit, idleTimeout: TimeAmount? = nil
    ) throws -> TLSChannelHandler {
        let handler = TLSChannelHandler(
            connection: try context.makeConnection(serverName: try TLSServerName(serverName)), handshakeTimeout: handshakeTimeout,
            bufferLimit: bufferLimit, idleTimeout: idleTimeout)
        try addHandler(handler)
        return handler
    }

    /// Adds a server-side ``TLSChannelHandler`` and returns it. Call it in a child channel
    /// initializer, before the handlers that speak the application protocol.
    /// `bufferLimit` and `idleTimeout` are the handler's (see ``TLSChannelHandler/bufferLimit``
    /// and ``TLSChannelHandler/idleTimeout``); defaults 64 KiB and none — set an idle
    /// time-out on servers that face the internet.
    @discardableResult
    public func addTLSServerHandler(
        context: any TLSServerContext, handshakeTimeout: TimeAmount? = .seconds(30),
        bufferLimit: Int = TLSChannelHandler.defaultBufferLimit, idleTimeout: TimeAmount? = nil
    ) throws -> TLSChannelHandler {
        let handler = TLSChannelHandler(
            connection: try context.makeConnection(), handshakeTimeout: handshakeTimeout, bufferLimit: bufferLimit,
            idleTimeout: idleTimeout)
        try addHandler(handler)
        return handler
    }
}
