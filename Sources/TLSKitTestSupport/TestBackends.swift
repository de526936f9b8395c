public import TLSKit
import TLSKitOpenSSL

#if GnuTLS
import TLSKitGnuTLS
#endif

/// A backend the conformance suite runs against.
public struct BackendUnderTest: Sendable, CustomStringConvertible {
    /// The backend's name, shown in test output.
    public let name: String
    private let factory: @Sendable () throws -> any TLSBackend

    /// Describes a backend by name and a factory.
    public init(name: String, factory: @escaping @Sendable () throws -> any TLSBackend) {
        self.name = name
        self.factory = factory
    }

    /// Makes a fresh backend value.
    public func make() throws -> any TLSBackend { try factory() }

    public var description: String { name }
}

/// Every backend compiled into this build; the conformance suite runs once per entry.
public enum TestBackends {
    /// All enabled backends (GnuTLS with the `GnuTLS` package trait).
    public static let all: [BackendUnderTest] = {
        var list = [BackendUnderTest(name: "openssl") { try OpenSSLBackend() }]
        #if GnuTLS
        list.append(BackendUnderTest(name: "gnutls") { try GnuTLSBackend() })
        #endif
        return list
    }()

    /// Every (client backend, server backend) combination of two different backends:
    /// the cross-backend interop matrix. Empty when only one backend is built.
    public static let crossPairs: [BackendPair] = all.flatMap { client in
        all.filter { $0.name != client.name }.map { BackendPair(client: client, server: $0) }
    }

    /// Every combination, same-backend pairs included.
    public static let allPairs: [BackendPair] = all.flatMap { client in
        all.map { BackendPair(client: client, server: $0) }
    }
}

/// A client backend and a server backend, for interop tests.
public struct BackendPair: Sendable, CustomStringConvertible {
    public let client: BackendUnderTest
    public let server: BackendUnderTest
    /// A client backend and a server backend.
    public init(client: BackendUnderTest, server: BackendUnderTest) {
        self.client = client
        self.server = server
    }
    public var description: String { "\(client.name) client → \(server.name) server" }
}
