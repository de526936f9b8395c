/// A key in a ``TLSHookExtensions`` bag: a typed, `Sendable` behaviour that a module
/// outside the core (such as TLSKitInsecure's key logging) attaches to a context.
public protocol TLSHookExtensionKey: Sendable {
    /// The value's type.
    associatedtype Value: Sendable
}

/// Behaviour from other modules attached to a context, by key type. The core defines only
/// the container: what a key means is up to the module that defines it and the backends
/// that read it. Default: empty.
public struct TLSHookExtensions: Sendable {
    private var values: [ObjectIdentifier: any Sendable] = [:]

    /// An empty bag.
    public init() {}

    /// Reads or writes the value for `key`; `nil` means "not attached".
    public subscript<K: TLSHookExtensionKey>(key: K.Type) -> K.Value? {
        get { values[ObjectIdentifier(key)] as? K.Value }
        set { values[ObjectIdentifier(key)] = newValue }
    }
}
