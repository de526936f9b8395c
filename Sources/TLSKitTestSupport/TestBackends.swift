public import TLSKit
import TLSKitOpenSSL

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
    /// All enabled backends.
    public static let all: [BackendUnderTest] = [
        BackendUnderTest(name: "openssl") { try OpenSSLBackend() }
    ]
}
