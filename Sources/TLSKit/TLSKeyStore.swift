/// One object a key store offers: a private key, a certificate, a public key.
public struct TLSStoreObject: Hashable, Sendable, CustomStringConvertible {
    /// What kind of object it is.
    public enum Kind: String, Hashable, Sendable {
        case privateKey, certificate, publicKey, other
    }

    /// What kind of object it is.
    public var kind: Kind
    /// The identifier to give ``TLSPrivateKey/identifier(_:passphrase:)`` or
    /// ``TLSCertificate/identifier(_:)``, when the store can name the object.
    public var identifier: String?
    /// A label or subject, for people.
    public var label: String?

    /// Describes a store object.
    public init(kind: Kind, identifier: String?, label: String?) {
        self.kind = kind
        self.identifier = identifier
        self.label = label
    }

    public var description: String {
        "\(kind.rawValue)\t\(identifier ?? "-")\t\(label ?? "")"
    }
}

/// A backend that can list what a key store (a PKCS#11 token, a provider's store) holds.
///
/// Listing shows identifiers and labels only; no key material is read.
public protocol TLSKeyStoreBrowsing: TLSBackend {
    /// Lists the objects the store at `identifier` offers.
    ///
    /// - Parameters:
    ///   - identifier: a store URI, e.g. `pkcs11:token=my-token`.
    ///   - passphrase: a PIN, to also see objects that need a login (private keys).
    /// - Throws: ``TLSError/Code/configuration`` when no loaded store understands the URI or
    ///   the store cannot be opened.
    func listObjects(in identifier: String, passphrase: TLSPassphrase?) throws(TLSError) -> [TLSStoreObject]
}
