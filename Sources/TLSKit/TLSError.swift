/// The one error type of TLSKit.
///
/// A `TLSError` says *what went wrong* (``code``), *why* in words a person can act on
/// (``message``), and, for diagnostics only, what the backend library reported
/// (``backendErrors``). It is a struct rather than an enum so that new codes and new
/// details can be added without breaking anyone's `switch`.
///
/// Two errors compare equal when their ``code`` is equal; the message, the details and
/// the source location are deliberately ignored, so tests can write
/// `#expect(throws: TLSError(.raggedEOF))`-style checks against expected codes.
///
/// `TLSError` is a value type and is `Sendable`.
public struct TLSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Compare codes with `==` or match them in a `switch`
    /// over the `static let` members.
    public var code: Code
    /// A sentence for people: the cause and, where there is one, the fix.
    public var message: String
    /// The backend library's own error entries (for example OpenSSL's error queue, oldest
    /// first). For diagnostics and bug reports; not part of the API contract.
    public var backendErrors: [String]
    /// For ``Code/certificateVerification`` errors: why the certificate was rejected.
    public var verificationFailure: TLSVerificationFailure?
    /// For ``Code/alertReceived`` errors (and errors that caused an alert to be sent):
    /// the TLS alert.
    public var alert: TLSAlert?
    /// For ``Code/unsupportedFeature`` errors: the backend that lacks the feature.
    public var backend: String?
    /// For ``Code/unsupportedFeature`` and ``Code/configuration`` errors: the
    /// configuration field or feature concerned, e.g. `"cipherSuites"`.
    public var feature: String?
    /// Where in TLSKit the error was created (`#fileID:#line`).
    public var location: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: the cause and the fix, in one or two sentences. Defaults to a generic
    ///     text for the code.
    ///   - backendErrors: the backend's own error entries, if any.
    ///   - verificationFailure: for ``Code/certificateVerification``: why the peer was rejected.
    ///   - alert: the TLS alert received, or sent because of this error.
    ///   - backend: for ``Code/unsupportedFeature``: the backend that lacks the feature.
    ///   - feature: the configuration field or feature concerned.
    ///   - fileID: where the error is made; leave the default.
    ///   - line: where the error is made; leave the default.
    public init(
        _ code: Code,
        _ message: String? = nil,
        backendErrors: [String] = [],
        verificationFailure: TLSVerificationFailure? = nil,
        alert: TLSAlert? = nil,
        backend: String? = nil,
        feature: String? = nil,
        fileID: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message ?? code.description
        self.backendErrors = backendErrors
        self.verificationFailure = verificationFailure
        self.alert = alert
        self.backend = backend
        self.feature = feature
        self.location = "\(fileID):\(line)"
    }

    /// An error for a feature a backend cannot provide.
    ///
    /// The message names the backend and the feature, so the caller can pick another
    /// backend or drop the setting.
    public static func unsupported(
        backend: String,
        feature: String,
        _ detail: String,
        fileID: String = #fileID,
        line: Int = #line
    ) -> TLSError {
        TLSError(
            .unsupportedFeature,
            "the \(backend) backend does not support \(feature): \(detail)",
            backend: backend,
            feature: feature,
            fileID: fileID,
            line: line
        )
    }

    /// An error for a configuration field that cannot be honoured as given.
    public static func configuration(
        field: String,
        _ detail: String,
        fileID: String = #fileID,
        line: Int = #line
    ) -> TLSError {
        TLSError(.configuration, "\(field): \(detail)", feature: field, fileID: fileID, line: line)
    }

    /// One readable line: `code: message`, then the backend's entries in brackets.
    public var description: String {
        var text = "\(code): \(message)"
        if !backendErrors.isEmpty {
            text += " [\(backendErrors.joined(separator: "; "))]"
        }
        return text
    }

    public static func == (lhs: TLSError, rhs: TLSError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

extension TLSError {
    /// The kind of a ``TLSError``: an extensible set of `static let` values.
    ///
    /// New codes may be added in minor releases; a `switch` over codes needs a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case configuration
            case unsupportedFeature
            case certificateVerification
            case handshake
            case alertReceived
            case protocolViolation
            case raggedEOF
            case closed
            case io
            case timeout
            case invalidState
            case `internal`
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The configuration (or a credential it describes) is invalid: a malformed PEM, a
        /// missing file, contradictory fields. Raised when a context is built.
        public static let configuration = Code(.configuration)
        /// The backend cannot provide a requested feature; ``TLSError/backend`` and
        /// ``TLSError/feature`` say which. Raised when a context is built.
        public static let unsupportedFeature = Code(.unsupportedFeature)
        /// The peer's certificate was rejected; ``TLSError/verificationFailure`` says why.
        public static let certificateVerification = Code(.certificateVerification)
        /// The peers could not agree (no common version, cipher suite, group or ALPN
        /// protocol), or the handshake failed for another local reason.
        public static let handshake = Code(.handshake)
        /// The peer aborted with a TLS alert; ``TLSError/alert`` says which.
        public static let alertReceived = Code(.alertReceived)
        /// The peer sent bytes that are not valid TLS (garbage, a truncated or oversized
        /// record, a message out of order).
        public static let protocolViolation = Code(.protocolViolation)
        /// The transport ended without the peer's close_notify: the data may have been
        /// truncated by an attacker or a crash.
        public static let raggedEOF = Code(.raggedEOF)
        /// The connection was closed cleanly and cannot be used any more.
        public static let closed = Code(.closed)
        /// The transport (socket) failed.
        public static let io = Code(.io)
        /// An operation did not complete within its time-out.
        public static let timeout = Code(.timeout)
        /// The call is not valid in the connection's current state (for example writing
        /// before the handshake has completed).
        public static let invalidState = Code(.invalidState)
        /// The backend failed in a way TLSKit did not expect; please report it.
        public static let `internal` = Code(.internal)

        public var description: String { base.rawValue }
    }
}

/// Why a peer certificate was rejected.
///
/// ``reason`` is the portable classification; ``backendCode`` and ``backendText`` are the
/// backend's own (for OpenSSL, the `X509_V_ERR_*` number and its text).
public struct TLSVerificationFailure: Hashable, Sendable, CustomStringConvertible {
    /// The portable reason.
    public var reason: Reason
    /// The backend's numeric code for the failure, if it has one.
    public var backendCode: Int?
    /// The backend's text for the failure.
    public var backendText: String
    /// The name the certificate was checked against, for hostname mismatches.
    public var expectedName: String?
    /// Depth in the chain of the certificate that failed (0 = the peer's leaf), if known.
    public var depth: Int?
    /// The peer's certificates as presented, leaf first, DER (empty if it sent none), so a
    /// rejected chain can be inspected and logged.
    public var peerCertificates: [[UInt8]]

    /// Creates a verification failure description.
    public init(
        reason: Reason,
        backendCode: Int? = nil,
        backendText: String,
        expectedName: String? = nil,
        depth: Int? = nil,
        peerCertificates: [[UInt8]] = []
    ) {
        self.reason = reason
        self.backendCode = backendCode
        self.backendText = backendText
        self.expectedName = expectedName
        self.depth = depth
        self.peerCertificates = peerCertificates
    }

    public var description: String {
        var text = "\(reason)"
        if let expectedName { text += " (expected \(expectedName))" }
        text += ": \(backendText)"
        if let depth { text += " at depth \(depth)" }
        return text
    }

    /// Portable reasons for rejecting a certificate (an extensible set).
    public struct Reason: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The reason's stable name.
        public var rawValue: String
        /// Names a reason.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The certificate's notAfter is in the past.
        public static let expired = Reason(rawValue: "expired")
        /// The certificate's notBefore is in the future.
        public static let notYetValid = Reason(rawValue: "notYetValid")
        /// The certificate does not name the host or address that was expected.
        public static let hostnameMismatch = Reason(rawValue: "hostnameMismatch")
        /// The chain does not lead to a trusted root.
        public static let unknownIssuer = Reason(rawValue: "unknownIssuer")
        /// The peer presented a self-signed certificate that is not trusted.
        public static let selfSigned = Reason(rawValue: "selfSigned")
        /// A signature in the chain does not verify.
        public static let badSignature = Reason(rawValue: "badSignature")
        /// Key usage or extended key usage does not allow this use.
        public static let unsuitableUsage = Reason(rawValue: "unsuitableUsage")
        /// A certificate in the chain has been revoked.
        public static let revoked = Reason(rawValue: "revoked")
        /// CRLs are configured, but none from the issuer of a certificate in the chain: its
        /// revocation status is unknown (give the CRL of every CA of the chain).
        public static let revocationUnknown = Reason(rawValue: "revocationUnknown")
        /// The chain is longer than allowed.
        public static let chainTooLong = Reason(rawValue: "chainTooLong")
        /// The peer sent no certificate although one is required.
        public static let noCertificate = Reason(rawValue: "noCertificate")
        /// The key is too weak, or the signature algorithm is not allowed by policy.
        public static let weakKeyOrAlgorithm = Reason(rawValue: "weakKeyOrAlgorithm")
        /// The backend accepted the chain, and one of the context's verification policies
        /// (or its `verifyPeer` hook) rejected it; the text names the policy.
        public static let rejectedByHook = Reason(rawValue: "rejectedByHook")
        /// The trust store pins keys and the peer's leaf holds none of them.
        public static let notPinned = Reason(rawValue: "notPinned")
        /// Any other reason; see ``TLSVerificationFailure/backendText``.
        public static let other = Reason(rawValue: "other")

        public var description: String { rawValue }
    }
}
