/// A key in a ``TLSBackendOptions`` bag: one backend-specific setting with a typed value.
///
/// A backend declares its keys as types, e.g.
/// ```swift
/// enum OpenSSLSecurityLevel: TLSBackendOptionKey {
///     typealias Value = Int
///     static let backendName = "openssl"
/// }
/// ```
/// Backends ignore keys that belong to other backends and reject keys of their own name
/// that they do not know.
public protocol TLSBackendOptionKey: Sendable {
    /// The value's type.
    associatedtype Value: Hashable & Sendable
    /// The ``TLSBackend/name`` of the backend this key belongs to.
    static var backendName: String { get }
}

/// A small, typed bag of backend-specific settings that travels with a configuration or a
/// credential description.
///
/// Other backends ignore what is not theirs (see ``TLSBackendOptionKey``). The default is
/// empty. Value type; `Sendable`, `Hashable`.
public struct TLSBackendOptions: Hashable, Sendable {
    private var values: [Key: Value] = [:]

    /// An empty bag.
    public init() {}

    /// Reads or writes the value of `key`; `nil` means "not set".
    public subscript<K: TLSBackendOptionKey>(key: K.Type) -> K.Value? {
        get { values[Key(K.self)]?.value as? K.Value }
        set {
            if let newValue { values[Key(K.self)] = Value(newValue) } else { values[Key(K.self)] = nil }
        }
    }

    /// The option keys set for `backendName`, as type names (for error messages).
    public func keys(forBackend backendName: String) -> [String] {
        values.keys.filter { $0.backendName == backendName }.map(\.name).sorted()
    }

    /// `true` when a value is set for `key`.
    public func contains<K: TLSBackendOptionKey>(_ key: K.Type) -> Bool { values[Key(K.self)] != nil }

    /// `true` when nothing is set.
    public var isEmpty: Bool { values.isEmpty }

    private struct Key: Hashable, Sendable {
        let id: ObjectIdentifier
        let backendName: String
        let name: String
        init<K: TLSBackendOptionKey>(_ type: K.Type) {
            id = ObjectIdentifier(type)
            backendName = K.backendName
            name = String(describing: type)
        }
        static func == (l: Key, r: Key) -> Bool { l.id == r.id }
        func hash(into h: inout Hasher) { h.combine(id) }
    }

    private struct Value: Hashable, @unchecked Sendable {
        // @unchecked: only values whose type is `Hashable & Sendable` are ever stored
        // (the subscript's constraint); AnyHashable erases that fact.
        let value: AnyHashable
        init(_ v: some Hashable & Sendable) { value = AnyHashable(v) }
    }
}
