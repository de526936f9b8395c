/// One check on the peer, run during every handshake after the backend's own verification.
///
/// A policy can only add to verification, never waive a check: it sees the peer's
/// certificates and answers ``TLSPeerVerificationDecision/accept`` or
/// ``TLSPeerVerificationDecision/reject(_:)``. A context runs all of its policies
/// (``TLSContextHooks/verificationPolicies``, in order, then ``TLSContextHooks/verifyPeer``);
/// the first rejection aborts the handshake with an alert, and the error names the policy.
///
/// Policies run on **every** handshake in which the peer's certificate is known:
/// - full handshakes in which the peer presented a certificate, also when chain
///   verification was switched off through TLSKitInsecure (then
///   ``TLSPeerVerificationRequest/backendVerification`` is
///   ``TLSPeerVerification/insecurelySkipped`` and ``TLSPeerVerificationRequest/verifiedChain``
///   is empty, so a policy that needs a verified chain must reject);
/// - resumptions: a client asks its policies again before it offers a ticket, with the
///   certificates remembered from the full handshake (``TLSPeerVerificationRequest/resumed``
///   is `true`); a ticket the policies reject is dropped and the handshake is a full one.
///   Servers do the same when a ticket comes back (see ``TLSServerConfiguration/maximumResumptionAge``).
///
/// Ready-made policies are in TLSKitX509: `TLSVerificationPolicy.webPKI()` (the Web PKI
/// profile) and `.allowPeers(_:)` (who the peer may be, by ``TLSPeerIdentityPattern``).
///
/// **Synchronous and asynchronous policies.** A policy made with
/// ``init(name:evaluate:)`` runs synchronously on the thread driving the connection; keep it
/// fast and do not block. A policy made with ``init(name:evaluateAsync:)`` may wait (for an
/// OCSP responder, a CT log, an allow-list service):
/// - when the connection's driver opted in with ``TLSConnection/enableAsynchronousVerification()``
///   (TLSKitNIO's `TLSChannelHandler`, TLSKitIO's `TLSSocket` and `TLSStream` do), the
///   handshake is suspended — a client's on every backend, a server's on GnuTLS:
///   ``TLSConnection/handshake()`` returns ``TLSHandshakeStatus/verificationPending``, the
///   driver runs the check without blocking its thread and completes it with
///   ``TLSConnection/completeVerification(_:)``;
/// - otherwise (an OpenSSL 3.0 server, or a driver that did not opt in) the check runs to
///   completion on TLSKit's own verifier thread while the handshake call waits for it, as a
///   blocking policy would.
/// Either way the policy is consulted at the same points as a synchronous one — resumptions
/// included — and the handshake never goes on before it answered: a verdict that does not
/// come is never an acceptance.
///
/// Policies run in order; the first rejection wins, whether the policies are synchronous or
/// asynchronous.
public struct TLSVerificationPolicy: Sendable, CustomStringConvertible {
    /// A short name for errors and logs (`webPKI`, `allowPeers`, …).
    public var name: String
    /// The check, run synchronously. For an asynchronous policy it runs
    /// ``evaluateAsync`` to completion on TLSKit's verifier thread and waits for it.
    public var evaluate: @Sendable (TLSPeerVerificationRequest) -> TLSPeerVerificationDecision
    /// The asynchronous check of a policy made with ``init(name:evaluateAsync:)``; `nil`
    /// for a synchronous policy.
    public private(set) var evaluateAsync: (@Sendable (TLSPeerVerificationRequest) async -> TLSPeerVerificationDecision)?

    /// A policy with a name and a synchronous check.
    public init(name: String, evaluate: @escaping @Sendable (TLSPeerVerificationRequest) -> TLSPeerVerificationDecision) {
        self.name = name
        self.evaluate = evaluate
        self.evaluateAsync = nil
    }

    /// A policy with a name and an asynchronous check, one that may wait without blocking a
    /// thread (see the type's documentation for when the handshake is suspended for it).
    ///
    /// The check may run on any thread, and may still be running when the connection is
    /// closed: its result is then ignored. It should honour task cancellation.
    public init(
        name: String, evaluateAsync: @escaping @Sendable (TLSPeerVerificationRequest) async -> TLSPeerVerificationDecision
    ) {
        self.name = name
        self.evaluateAsync = evaluateAsync
        self.evaluate = { request in
            TLSVerifierThread.shared.runBlocking { await evaluateAsync(request) }
                ?? .reject("the asynchronous check cannot wait for itself on TLSKit's verifier thread")
        }
    }

    /// Whether the policy was made with ``init(name:evaluateAsync:)``.
    public var isAsynchronous: Bool { evaluateAsync != nil }

    public var description: String { "TLSVerificationPolicy(\(name)\(isAsynchronous ? ", async" : ""))" }
}

/// The checks a context runs after the backend's own verification, composed once when the
/// context is built. `package`: what backends call.
package struct TLSPeerChecks: Sendable {
    private let policies: [TLSVerificationPolicy]

    /// The context's policies followed by its `verifyPeer` hook; `nil` when there is none.
    package init?(_ hooks: TLSContextHooks) {
        var all = hooks.verificationPolicies
        if let hook = hooks.verifyPeer { all.append(TLSVerificationPolicy(name: "verifyPeer", evaluate: hook)) }
        guard !all.isEmpty else { return nil }
        policies = all
    }

    /// The names of the policies from `index` on.
    package func names(from index: Int) -> [String] { policies[index...].map(\.name) }

    /// Runs every policy in order, synchronously (asynchronous ones to completion on the
    /// verifier thread); the first rejection wins, as a failure naming the policy.
    package func evaluate(_ request: TLSPeerVerificationRequest) -> TLSVerificationFailure? {
        for policy in policies {
            if case .reject(let why) = policy.evaluate(request) { return Self.failure(policy.name, why, request) }
        }
        return nil
    }

    /// Runs the policies in order up to the first asynchronous one. Returns the first
    /// rejection, or the index to go on from asynchronously (`nil`: every policy accepted).
    package func evaluateSynchronousPart(_ request: TLSPeerVerificationRequest) -> (failure: TLSVerificationFailure?, next: Int?) {
        for (index, policy) in policies.enumerated() {
            if policy.isAsynchronous { return (nil, index) }
            if case .reject(let why) = policy.evaluate(request) { return (Self.failure(policy.name, why, request), nil) }
        }
        return (nil, nil)
    }

    /// Runs the policies from `index` on, in order, awaiting the asynchronous ones; the first
    /// rejection wins. A cancelled task rejects (fail closed).
    package func evaluate(_ request: TLSPeerVerificationRequest, from index: Int) async -> TLSVerificationFailure? {
        for policy in policies[index...] {
            let decision: TLSPeerVerificationDecision
            if let check = policy.evaluateAsync { decision = await check(request) } else { decision = policy.evaluate(request) }
            if case .reject(let why) = decision { return Self.failure(policy.name, why, request) }
            if Task.isCancelled { return Self.failure(policy.name, "the verification was cancelled", request) }
        }
        return nil
    }

    /// As ``evaluate(_:from:)``, run to completion on TLSKit's verifier thread while the
    /// caller waits.
    package func evaluateBlocking(_ request: TLSPeerVerificationRequest, from index: Int) -> TLSVerificationFailure? {
        let checks = self
        let outcome = TLSVerifierThread.shared.runBlocking { TLSFailureBox(await checks.evaluate(request, from: index)) }
        guard let outcome else {
            return Self.failure(
                policies[index].name, "the asynchronous check cannot wait for itself on TLSKit's verifier thread", request)
        }
        return outcome.failure
    }

    static func failure(_ name: String, _ why: String, _ request: TLSPeerVerificationRequest) -> TLSVerificationFailure {
        TLSVerificationFailure(
            reason: .rejectedByHook, backendText: "verification policy '\(name)': \(why)", peerCertificates: request.peerCertificates)
    }
}

/// A failure or none, as one `Sendable` value.
struct TLSFailureBox: Sendable {
    let failure: TLSVerificationFailure?
    init(_ failure: TLSVerificationFailure?) { self.failure = failure }
}

extension TLSContextHooks {
    /// Adds a policy after those already attached (all of them must accept).
    public mutating func addVerificationPolicy(_ policy: TLSVerificationPolicy) {
        verificationPolicies.append(policy)
    }
}

/// Who a peer may be, as a pattern over its leaf certificate: a subjectAltName (DNS, IP,
/// URI, email), a SPIFFE ID, or a subject attribute.
///
/// Text forms (what ``init(_:)`` parses, and what `tlskit serve --allow-client` takes):
/// - `dns:host.example`, `dns:*.fleet.example` — a DNS subjectAltName; `*` stands for
///   exactly one whole left-most label (`a.fleet.example`, not `fleet.example` or
///   `a.b.fleet.example`). Case-insensitive. A wildcard in the certificate matches only the
///   same wildcard in the pattern.
/// - `ip:192.0.2.7`, `ip:2001:db8::1` — an IP-address subjectAltName.
/// - `uri:https://id.example/device/7` — a URI subjectAltName, exactly.
/// - `email:ops@example.com` — an rfc822Name subjectAltName (case-insensitive domain).
/// - `spiffe://trust.domain/path` — a SPIFFE ID: the certificate must carry exactly one URI
///   subjectAltName (as an X.509-SVID does) and it must equal this; `spiffe://trust.domain/*`
///   accepts any workload of that trust domain.
/// - `cn:client-1`, `o:Example Corp`, `ou:…`, `c:…`, `l:…`, `st:…`, `serial:…` — a subject
///   attribute, exactly (every value of that attribute type is tried).
///
/// Value type; `Sendable`, `Hashable`.
public struct TLSPeerIdentityPattern: Hashable, Sendable, CustomStringConvertible {
    /// What the pattern matches.
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        case dns, ip, uri, email, spiffe
        /// A subject attribute; ``TLSPeerIdentityPattern/attribute`` says which.
        case subject
    }

    /// What the pattern matches.
    public var kind: Kind
    /// The value to match (for `.ip`, the address's bytes in ``ipAddress``).
    public var value: String
    /// For `.subject`: the attribute's short name, lower-case (`cn`, `o`, `ou`, …).
    public var attribute: String?
    /// For `.ip`: the address, 4 or 16 bytes.
    public var ipAddress: [UInt8]?

    /// The subject attributes a pattern may name, by short name.
    public static let subjectAttributes = ["cn", "o", "ou", "c", "l", "st", "serial", "dc", "uid"]

    /// Parses a pattern's text form (see the type's documentation).
    ///
    /// - Throws: ``TLSError/Code/configuration`` naming what is wrong and the accepted forms.
    public init(_ text: String) throws(TLSError) {
        let forms = "use dns:NAME, dns:*.DOMAIN, ip:ADDRESS, uri:URI, email:ADDRESS, spiffe://DOMAIN/PATH or cn:/o:/ou:VALUE"
        if text.hasPrefix("spiffe://") {
            let rest = text.dropFirst("spiffe://".count)
            guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex, rest[slash...].count > 1 else {
                throw TLSError.configuration(
                    field: "peer identity", "'\(text)' is not a SPIFFE ID (spiffe://TRUST-DOMAIN/PATH, or spiffe://TRUST-DOMAIN/*)")
            }
            let domain = rest[..<slash]
            guard domain.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }),
                domain == domain.lowercased()
            else {
                throw TLSError.configuration(
                    field: "peer identity", "'\(text)': a SPIFFE trust domain is lower-case letters, digits, '.', '-' and '_'")
            }
            self.init(kind: .spiffe, value: text)
            return
        }
        guard let colon = text.firstIndex(of: ":") else {
            throw TLSError.configuration(field: "peer identity", "'\(text)' has no kind; \(forms)")
        }
        let kind = text[..<colon].lowercased()
        let value = String(text[text.index(after: colon)...])
        guard !value.isEmpty else { throw TLSError.configuration(field: "peer identity", "'\(text)' has no value; \(forms)") }
        switch kind {
        case "dns":
            let labels = value.split(separator: ".", omittingEmptySubsequences: false)
            guard labels.count >= 2, labels.allSatisfy({ !$0.isEmpty }),
                labels.dropFirst().allSatisfy({ !$0.contains("*") }),
                labels[0] == "*" || !labels[0].contains("*")
            else {
                throw TLSError.configuration(
                    field: "peer identity",
                    "'\(text)': a DNS pattern is a name with at least two labels; '*' may only be the whole left-most label")
            }
            self.init(kind: .dns, value: value.lowercased())
        case "ip":
            guard let name = try? TLSServerName(value), let bytes = name.ipAddress else {
                throw TLSError.configuration(field: "peer identity", "'\(value)' is not an IPv4 or IPv6 address")
            }
            self.init(kind: .ip, value: value)
            self.ipAddress = bytes
        case "uri":
            guard value.contains(":") else { throw TLSError.configuration(field: "peer identity", "'\(value)' is not a URI") }
            self.init(kind: .uri, value: value)
        case "email":
            guard let at = value.lastIndex(of: "@"), at != value.startIndex, value.index(after: at) != value.endIndex else {
                throw TLSError.configuration(field: "peer identity", "'\(value)' is not an email address")
            }
            self.init(kind: .email, value: String(value[..<at]) + "@" + value[value.index(after: at)...].lowercased())
        default:
            guard Self.subjectAttributes.contains(kind) else {
                throw TLSError.configuration(field: "peer identity", "'\(kind)' is not a kind of identity; \(forms)")
            }
            self.init(kind: .subject, value: value)
            self.attribute = kind
        }
    }

    private init(kind: Kind, value: String) {
        self.kind = kind
        self.value = value
    }

    /// The text form.
    public var description: String {
        switch kind {
        case .spiffe: return value
        case .subject: return "\(attribute ?? "?"):\(value)"
        default: return "\(kind.rawValue):\(value)"
        }
    }

    /// Whether a DNS subjectAltName matches this `.dns` pattern.
    public func matchesDNSName(_ presented: String) -> Bool {
        guard kind == .dns else { return false }
        let name = presented.lowercased().hasSuffix(".") ? String(presented.lowercased().dropLast()) : presented.lowercased()
        if value.hasPrefix("*.") {
            if name == value { return true }  // the certificate carries the same wildcard
            guard !name.hasPrefix("*"), let dot = name.firstIndex(of: ".") else { return false }
            return name[dot...] == value.dropFirst() && name[..<dot].count > 0
        }
        return name == value
    }

    /// Whether the URI subjectAltNames of a certificate match this `.spiffe` pattern.
    public func matchesSPIFFE(uriNames: [String]) -> Bool {
        guard kind == .spiffe, uriNames.count == 1, let id = uriNames.first, id.hasPrefix("spiffe://") else { return false }
        if value.hasSuffix("/*") {
            let prefix = value.dropLast()  // keeps the slash
            return id.hasPrefix(prefix) && id.count > prefix.count
        }
        return id == value
    }
}
