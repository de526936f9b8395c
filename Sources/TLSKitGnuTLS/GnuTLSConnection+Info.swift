internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
import TLSKit

/// What the handshake negotiated, read from the session.
extension GnuTLSConnection {
    func makeInfo() -> TLSConnectionInfo {
        let versionName = gnutls_protocol_get_name(gnutls_protocol_get_version(session)).map { String(cString: $0) } ?? ""
        let version = TLSProtocolVersion(versionName) ?? TLSProtocolVersion(rawValue: 0)
        let cipher = gnutls_cipher_get(session).rawValue
        let mac = gnutls_mac_get(session).rawValue
        let kx = gnutls_kx_get(session).rawValue
        let suite =
            GnuTLSSuites.shared.all.first { entry in
                entry.cipherID == cipher && entry.macID == mac
                    && (version == .tls1_3 ? entry.suite.isTLS13 : (!entry.suite.isTLS13 && entry.kxID == kx))
            }?.suite ?? TLSCipherSuite(rawValue: 0)

        let groupName = gnutls_group_get_name(gnutls_group_get(session)).map { String(cString: $0) }

        var count: UInt32 = 0
        let peers = Self.certificates(gnutls_certificate_get_peers(session, &count), count)
        let verification: TLSPeerVerification
        if peers.isEmpty {
            verification = .noCertificate
        } else if state.insecure != nil {
            verification = .insecurelySkipped
        } else {
            verification = authentication?.verification ?? .noCertificate
        }
        let verified = verification == .verified || verification == .pinned ? authentication?.verifiedChain ?? [] : []
        return TLSConnectionInfo(
            protocolVersion: version,
            cipherSuite: suite,
            applicationProtocol: alpn(),
            serverName: peerName(),
            keyExchangeGroup: groupName.flatMap { GnuTLSGroups.group(named: $0) },
            resumed: gnutls_session_is_resumed(session) != 0,
            peerCertificates: peers,
            verifiedChain: verified,
            peerVerification: verification,
            ocspResponse: gnutls_session_is_resumed(session) == 0 ? verifiedStaple : nil
        )
    }
}
