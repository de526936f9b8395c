#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Resumption skips the certificate exchange. What TLSKit remembers about the peer from the
// full handshake, and the checks every backend makes before a session is resumed, live
// here so that both backends decide the same way. `package`: for backends.

/// What was established about the peer in the full handshake a session comes from.
package struct TLSSessionAuthentication: Sendable {
    /// When the peer was fully verified, seconds since 1970 (wall clock). Tickets issued on
    /// resumed connections carry the original time on.
    package var authenticatedAt: Int64
    /// The peer's certificates, leaf first, DER.
    package var peerCertificates: [[UInt8]]
    /// The verified chain (see ``TLSPeerVerificationRequest/verifiedChain``).
    package var verifiedChain: [[UInt8]]
    /// How the peer was verified.
    package var verification: TLSPeerVerification
    /// The leaf's validity period, seconds since 1970; `nil` when it is not checked (pinned
    /// keys, insecurely skipped verification).
    package var validity: ClosedRange<Int64>?

    package init(
        authenticatedAt: Int64, peerCertificates: [[UInt8]], verifiedChain: [[UInt8]],
        verification: TLSPeerVerification, validity: ClosedRange<Int64>?
    ) {
        self.authenticatedAt = authenticatedAt
        self.peerCertificates = peerCertificates
        self.verifiedChain = verifiedChain
        self.verification = verification
        self.validity = validity
    }

    /// Whether a session authenticated like this may be resumed now; the reason when not.
    ///
    /// - Parameters:
    ///   - now: the wall clock, seconds since 1970.
    ///   - verificationTime: the configured verification time, if any (for the validity
    ///     period; the age is always measured on the wall clock).
    package func refusal(
        now: Int64, maximumAge: Duration, verificationTime: TLSVerificationTime?, checks: TLSPeerChecks?, side: TLSSide,
        serverName: String?
    ) -> String? {
        let age = now - authenticatedAt
        if age < 0 || age > maximumAge.components.seconds {
            return "the peer was verified \(age) s ago, more than maximumResumptionAge allows"
        }
        if let validity {
            let at = verificationTime?.secondsSince1970 ?? now
            if at > validity.upperBound { return "the peer's certificate has expired since it was verified" }
            if at < validity.lowerBound { return "the peer's certificate is not valid yet" }
        }
        if let checks, let request = resumptionRequest(side: side, serverName: serverName) {
            if let failure = checks.evaluate(request) { return failure.backendText }
        }
        return nil
    }

    /// What the policies are asked before this session is resumed; `nil` when the peer
    /// presented no certificate (there is nothing to ask about).
    package func resumptionRequest(side: TLSSide, serverName: String?) -> TLSPeerVerificationRequest? {
        guard !peerCertificates.isEmpty else { return nil }
        return TLSPeerVerificationRequest(
            side: side, peerCertificates: peerCertificates, serverName: serverName, applicationProtocol: nil,
            verifiedChain: verifiedChain, backendVerification: verification, resumed: true)
    }
}

/// The wall clock, replaceable per context so tests can move time instead of waiting.
package final class TLSWallClock: @unchecked Sendable {
    // @unchecked: `override` is set once by a test before any connection is made, then only read.
    package var override: (@Sendable () -> Int64)?

    package init() {}

    /// Seconds since 1970.
    package func now() -> Int64 {
        if let override { return override() }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }
}

/// A client context's store of session tickets, by server name, each with what was
/// established about the server. Thread-safe; each ticket is handed out once.
package final class TLSSessionCache<Ticket: AnyObject & Sendable>: @unchecked Sendable {
    // @unchecked: every access to `tickets` goes through `lock`; `clock` is set up once.
    private let lock = TLSMutex()
    private var tickets: [String: (ticket: Ticket, authentication: TLSSessionAuthentication)] = [:]
    /// The clock resumption ages are measured on.
    package let clock = TLSWallClock()

    package init() {}

    /// Keeps `ticket` as the latest for `name` (replacing an older one).
    package func store(_ ticket: Ticket, authentication: TLSSessionAuthentication, for name: String) {
        lock.withLock { tickets[name] = (ticket, authentication) }
    }

    /// Takes the ticket for `name`, if any (it is not handed out again).
    package func take(for name: String) -> (ticket: Ticket, authentication: TLSSessionAuthentication)? {
        lock.withLock { tickets.removeValue(forKey: name) }
    }

    /// Takes the ticket for `name` if the session may still be resumed (see
    /// ``TLSSessionAuthentication/refusal(now:maximumAge:verificationTime:checks:side:serverName:)``);
    /// a ticket that may not is dropped.
    package func takeResumable(
        for name: String, maximumAge: Duration, verificationTime: TLSVerificationTime?, checks: TLSPeerChecks?
    ) -> (ticket: Ticket, authentication: TLSSessionAuthentication)? {
        guard let entry = take(for: name) else { return nil }
        let refusal = entry.authentication.refusal(
            now: clock.now(), maximumAge: maximumAge, verificationTime: verificationTime, checks: checks, side: .client,
            serverName: name)
        return refusal == nil ? entry : nil
    }
}

/// A context whose resumption clock tests can move (both backends' contexts).
package protocol TLSResumptionClocked: AnyObject {
    /// The clock resumption ages and remembered validity periods are checked on.
    var resumptionClock: TLSWallClock { get }
}
