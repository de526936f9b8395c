internal import CTLSKitOpenSSL
internal import CTLSKitOpenSSLShims
import TLSKit

/// Owns one `SSL_CTX*` and everything its callbacks point at.
final class OpenSSLContextHandle: @unchecked Sendable {
    // @unchecked: every property is set in init and never changes; an SSL_CTX is safe to
    // share between threads once configuration has finished, which is before init ends.
    let pointer: OpaquePointer
    /// The server's ALPN list in wire format; the select callback returns pointers into it,
    /// so it lives as long as the SSL_CTX.
    let alpnWire: UnsafeMutableBufferPointer<UInt8>?
    /// The leaf of the chain this context presents (servers), for SNI matching.
    let leaf: OpenSSLCertificateRef?
    /// Other contexts selected by SNI (primary server context only).
    let alternatives: [OpenSSLContextHandle]
    /// The context's verification policies and hook, composed; `nil` when there are none.
    let checks: TLSPeerChecks?
    /// SHA-256 hashes of the pinned SubjectPublicKeyInfos, when the trust store pins keys.
    let pins: Set<[UInt8]>?
    /// The longest verified chain accepted, if limited.
    let maximumChainLength: Int?
    /// How long after a full verification a session may be resumed.
    let maximumResumptionAge: Duration
    /// The configured verification time, if any.
    let verificationTime: TLSVerificationTime?
    /// TLSKitInsecure's key-log sink, if attached.
    let keyLog: (@Sendable (String) -> Void)?
    /// Server: the rotating session-ticket keys (shared by every SNI alternative).
    let ticketKeys: OpenSSLTicketKeys?
    /// Server: the OCSP response stapled with this context's chain.
    let ocspResponse: [UInt8]?

    /// Takes the draft's `SSL_CTX` and settings; registers the callbacks that point back at
    /// this handle (server ALPN selection, SNI selection among `alternatives`).
    init(finishing draft: OpenSSLContextDraft, alternatives: [OpenSSLContextHandle] = []) {
        pointer = draft.takePointer()
        if let wire = draft.alpnWire, !wire.isEmpty {
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: wire.count)
            _ = buffer.initialize(from: wire)
            alpnWire = buffer
        } else {
            alpnWire = nil
        }
        leaf = draft.leaf
        self.alternatives = alternatives
        checks = draft.checks
        pins = draft.pins
        maximumChainLength = draft.maximumChainLength
        maximumResumptionAge = draft.maximumResumptionAge
        verificationTime = draft.verificationTime
        keyLog = draft.keyLog
        ticketKeys = draft.ticketKeys
        ocspResponse = draft.ocspResponse
        let me = Unmanaged.passUnretained(self).toOpaque()
        if ocspResponse != nil {
            _ = CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_status_cb(pointer, serverStatusCallback)
            _ = CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_status_arg(pointer, me)
        }
        if alpnWire != nil { SSL_CTX_set_alpn_select_cb(pointer, alpnSelectCallback, me) }
        if !alternatives.isEmpty {
            _ = CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_servername_callback(pointer, serverNameCallback)
            _ = CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_servername_arg(pointer, me)
        }
    }

    deinit {
        SSL_CTX_free(pointer)
        alpnWire?.deallocate()
    }
}

/// An `SSL_CTX*` being configured, and the settings its handle will carry. Frees the
/// `SSL_CTX` if configuration throws before ``OpenSSLContextHandle/init(finishing:alternatives:)``
/// takes it. Used by one thread while a context is built.
final class OpenSSLContextDraft {
    private var owned: OpaquePointer?
    let pointer: OpaquePointer
    var alpnWire: [UInt8]?
    var leaf: OpenSSLCertificateRef?
    var checks: TLSPeerChecks?
    var pins: Set<[UInt8]>?
    var maximumChainLength: Int?
    var maximumResumptionAge: Duration = .seconds(24 * 3600)
    var verificationTime: TLSVerificationTime?
    var keyLog: (@Sendable (String) -> Void)?
    var ticketKeys: OpenSSLTicketKeys?
    var ocspResponse: [UInt8]?

    init(takingOwnership pointer: OpaquePointer) {
        self.pointer = pointer
        owned = pointer
    }

    /// Hands the `SSL_CTX` over to its handle.
    func takePointer() -> OpaquePointer {
        guard owned != nil else { preconditionFailure("an OpenSSLContextDraft finishes one handle only") }
        owned = nil
        return pointer
    }

    deinit { if let owned { SSL_CTX_free(owned) } }
}

/// The settings shared by client and server contexts.
struct OpenSSLContextSettings {
    var side: TLSSide
    var versions: ClosedRange<TLSProtocolVersion>
    var cipherSuites: [TLSCipherSuite]?
    var groups: [TLSNamedGroup]?
    var policy: TLSSecurityPolicy
    var alpn: [TLSApplicationProtocol]
    var options: TLSBackendOptions
    var verificationTime: TLSVerificationTime? = nil
    var maximumChainLength: Int? = nil

    init(_ c: some TLSNegotiationSettings) throws(TLSError) {
        self.init(
            side: c.side, versions: try c.effectiveVersionRange(), cipherSuites: c.cipherSuites,
            groups: c.keyExchangeGroups, policy: c.securityPolicy, alpn: c.applicationProtocols, options: c.backendOptions)
        verificationTime = c.verificationTime
        maximumChainLength = c.maximumChainLength
    }

    init(
        side: TLSSide, versions: ClosedRange<TLSProtocolVersion>, cipherSuites: [TLSCipherSuite]?,
        groups: [TLSNamedGroup]?, policy: TLSSecurityPolicy, alpn: [TLSApplicationProtocol], options: TLSBackendOptions
    ) {
        self.side = side
        self.versions = versions
        self.cipherSuites = cipherSuites
        self.groups = groups
        self.policy = policy
        self.alpn = alpn
        self.options = options
    }
}
