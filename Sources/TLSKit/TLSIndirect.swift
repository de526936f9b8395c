/// Storage for a large optional that is usually `nil`: one pointer inline, the value on the
/// heap once set. `package`: for the connections of the backends.
///
/// A connection keeps several such values (the sticky error, a verifier's rejection, a
/// suspended verification) that a healthy connection never sets. Inline they made each
/// connection object about 1 KB; behind a pointer an idle server connection is smaller by
/// what every nil of them would occupy (Benchmarks/results/side-by-side.md).
@propertyWrapper
package enum TLSIndirect<Value> {
    case none
    indirect case some(Value)

    /// `nil`: what a property declared without a value starts as.
    package init() { self = .none }

    package init(wrappedValue: Value?) {
        self = wrappedValue.map { .some($0) } ?? .none
    }

    package var wrappedValue: Value? {
        get {
            if case .some(let value) = self { return value }
            return nil
        }
        set { self = newValue.map { .some($0) } ?? .none }
    }
}

extension TLSIndirect: Sendable where Value: Sendable {}

/// A connection that can say how many bytes of buffer storage it holds in its own queues
/// (received bytes not yet read by the engine, records not yet drained, plaintext held back).
/// `package`: for the tests that prove an idle connection holds no buffers.
package protocol TLSQueueStorageReporting {
    /// The capacity of the connection's queues, in bytes: 0 when they are empty.
    var queueStorageByteCount: Int { get }
}
