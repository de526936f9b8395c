/// A key-exchange group ("supported group", formerly "named curve"), by IANA code (an
/// open registry).
public struct TLSNamedGroup: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The IANA code, e.g. `29` for X25519.
    public var rawValue: UInt16
    /// Wraps an IANA code.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// secp256r1 (NIST P-256), 23
    public static let secp256r1 = TLSNamedGroup(rawValue: 23)
    /// secp384r1 (NIST P-384), 24
    public static let secp384r1 = TLSNamedGroup(rawValue: 24)
    /// secp521r1 (NIST P-521), 25
    public static let secp521r1 = TLSNamedGroup(rawValue: 25)
    /// x25519, 29
    public static let x25519 = TLSNamedGroup(rawValue: 29)
    /// x448, 30
    public static let x448 = TLSNamedGroup(rawValue: 30)
    /// ffdhe2048, 256
    public static let ffdhe2048 = TLSNamedGroup(rawValue: 256)
    /// ffdhe3072, 257
    public static let ffdhe3072 = TLSNamedGroup(rawValue: 257)
    /// ffdhe4096, 258
    public static let ffdhe4096 = TLSNamedGroup(rawValue: 258)
    /// X25519MLKEM768 (hybrid post-quantum), 4588
    public static let x25519MLKEM768 = TLSNamedGroup(rawValue: 0x11EC)

    /// The IANA names of the groups this registry knows.
    public static let ianaNames: [TLSNamedGroup: String] = [
        .secp256r1: "secp256r1", .secp384r1: "secp384r1", .secp521r1: "secp521r1",
        .x25519: "x25519", .x448: "x448",
        .ffdhe2048: "ffdhe2048", .ffdhe3072: "ffdhe3072", .ffdhe4096: "ffdhe4096",
        .x25519MLKEM768: "X25519MLKEM768",
    ]

    /// Looks a group up by IANA name (case-insensitive; `P-256` etc. also accepted).
    public init?(name: String) {
        let aliases = ["p-256": "secp256r1", "p-384": "secp384r1", "p-521": "secp521r1"]
        let wanted = aliases[name.lowercased()] ?? name.lowercased()
        guard let match = Self.ianaNames.first(where: { $0.value.lowercased() == wanted }) else { return nil }
        self = match.key
    }

    /// The IANA name, or the number for unknown groups.
    public var description: String { Self.ianaNames[self] ?? "group(\(rawValue))" }
}
