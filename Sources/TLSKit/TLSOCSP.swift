/// A DER-encoded OCSP response (RFC 6960) that a server staples to its certificate: bytes,
/// or a file read when the context is built (and again on
/// ``TLSServerContext/replaceCertificateChains(_:)``). Value type; `Sendable`, `Hashable`.
public struct TLSOCSPResponse: Hashable, Sendable, CustomStringConvertible {
    /// Where the response comes from.
    public enum Source: Hashable, Sendable {
        /// The DER bytes (`openssl ocsp -respout` writes these).
        case der([UInt8])
        /// A file holding the DER bytes.
        case file(String)
    }

    /// Where the response comes from.
    public var source: Source

    /// Describes a response.
    public init(_ source: Source) { self.source = source }

    /// A response from DER bytes.
    public static func der(_ bytes: [UInt8]) -> TLSOCSPResponse { TLSOCSPResponse(.der(bytes)) }
    /// A response from a DER file.
    public static func file(_ path: String) -> TLSOCSPResponse { TLSOCSPResponse(.file(path)) }

    public var description: String {
        switch source {
        case .der(let bytes): return "TLSOCSPResponse(\(bytes.count) DER bytes)"
        case .file(let path): return "TLSOCSPResponse(file: \(path))"
        }
    }

    /// The DER bytes (reading the file). `package`: for backends.
    package func load(field: String) throws(TLSError) -> [UInt8] {
        switch source {
        case .der(let bytes):
            guard !bytes.isEmpty else { throw TLSError.configuration(field: field, "the OCSP response is empty") }
            return bytes
        case .file(let path):
            return try TLSCredentialFiles.read(path, field: field, what: "OCSP response")
        }
    }
}

/// What a client does about OCSP stapling (the server sending its certificate's OCSP
/// response in the handshake, RFC 6066 §8 and RFC 8446 §4.4.2.1).
///
/// The checks apply to chains verified to a CA of the trust store. With pinned keys or
/// TLSKitInsecure nothing is checked (and ``TLSConnectionInfo/ocspResponse`` stays `nil`).
/// A response must be signed by the leaf's issuer or a responder it delegated to, answer
/// about the leaf (every answer about it must be "good"), and be current: within
/// thisUpdate and nextUpdate with five minutes of skew, or at most 7 days old without a
/// nextUpdate. The current time is used, also when a verification time is configured.
public enum TLSOCSPStapling: Hashable, Sendable, CustomStringConvertible {
    /// Do not ask for a stapled response (and so do not honour must-staple).
    case ignore
    /// Ask for one; if the server staples one, verify it, and fail the handshake when it
    /// says the certificate is revoked or does not verify. A certificate marked
    /// must-staple (the TLS Feature extension, RFC 7633) then requires one. The default.
    case checkIfStapled
    /// As ``checkIfStapled``, and fail the handshake when the server staples nothing.
    /// Refused when the context is built with a pinned trust store (no CA to verify a
    /// response against).
    case require

    public var description: String {
        switch self {
        case .ignore: return "ignore"
        case .checkIfStapled: return "checkIfStapled"
        case .require: return "require"
        }
    }
}

extension TLSVerificationFailure.Reason {
    /// The server stapled an OCSP response that does not verify: not signed by the
    /// certificate's issuer or its delegated responder, not about this certificate, out of
    /// its validity period, or not a successful response.
    public static let ocspResponseInvalid = TLSVerificationFailure.Reason(rawValue: "ocspResponseInvalid")
    /// An OCSP response was required (``TLSOCSPStapling/require``, or a must-staple
    /// certificate) and the server stapled none.
    public static let ocspResponseMissing = TLSVerificationFailure.Reason(rawValue: "ocspResponseMissing")
}

/// Reading a certificate's TLS Feature extension (RFC 7633) for must-staple. `package`:
/// for backends, which hand over the extension's value.
package enum TLSMustStaple {
    /// The extension's OID, 1.3.6.1.5.5.7.1.24, as text.
    package static let oid = "1.3.6.1.5.5.7.1.24"

    /// Whether a TLS Feature value (`SEQUENCE OF INTEGER`) lists status_request (5).
    /// A value that does not parse counts as must-staple: fail closed.
    package static func requiresStaple(featuresDER der: [UInt8]) -> Bool {
        guard der.count >= 2, der[0] == 0x30 else { return true }
        var offset = 1
        guard let (length, start) = Self.length(der, at: offset), start + length == der.count else { return true }
        offset = start
        while offset < der.count {
            guard der[offset] == 0x02, let (count, body) = Self.length(der, at: offset + 1), count >= 1, body + count <= der.count else {
                return true
            }
            var value = 0
            for byte in der[body..<(body + count)] { value = value << 8 | Int(byte) }
            if count <= 2 && value == 5 { return true }
            offset = body + count
        }
        return false
    }

    /// A DER length at `offset` (short form, or long form up to 2 bytes) and where its
    /// content starts.
    private static func length(_ der: [UInt8], at offset: Int) -> (Int, Int)? {
        guard offset < der.count else { return nil }
        let first = Int(der[offset])
        if first < 0x80 { return (first, offset + 1) }
        let bytes = first & 0x7f
        guard bytes >= 1, bytes <= 2, offset + bytes < der.count else { return nil }
        var length = 0
        for byte in der[(offset + 1)...(offset + bytes)] { length = length << 8 | Int(byte) }
        return (length, offset + 1 + bytes)
    }
}

extension TLSError {
    /// The server stapled nothing, and the client needed a response.
    package static func stapleMissing(mustStaple: Bool) -> TLSVerificationFailure {
        TLSVerificationFailure(
            reason: .ocspResponseMissing,
            backendText: mustStaple
                ? "the server's certificate is marked must-staple (TLS Feature status_request) and the server stapled no OCSP response"
                : "ocspStapling is .require and the server stapled no OCSP response",
            peerCertificates: [])
    }
}
