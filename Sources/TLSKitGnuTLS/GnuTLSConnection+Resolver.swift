internal import CTLSKitGnuTLS
internal import CTLSKitGnuTLSShims
import TLSKit

/// Servers: which chain a session presents, chosen after the ClientHello.
extension GnuTLSConnection {
    /// After the ClientHello: the resolver's chain if there is a resolver and it picks one,
    /// else the first chain whose leaf matches the SNI name (the default otherwise).
    func selectChain() -> Int32 {
        if let server, let resolver = server.resolver {
            let name = peerName().flatMap { try? TLSServerName($0) }.flatMap { name -> String? in
                if case .dns(let dns) = name.kind { return dns } else { return nil }
            }
            switch resolver(TLSClientHelloInfo(serverName: name, signatureSchemes: offeredSchemes, applicationProtocols: offeredProtocols)) {
            case .configured:
                break
            case .chain(let chain):
                do {
                    let credentials = try server.loadResolved(chain)
                    resolvedCredentials.append(credentials)
                    return gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, UnsafeMutableRawPointer(credentials.pointer))
                } catch {
                    resolverFailure = TLSError.resolvedChainDidNotLoad(error, serverName: name)
                    return GNUTLS_E_INTERNAL_ERROR
                }
            case .reject(let reason):
                resolverFailure = TLSError.resolverRejected(reason, serverName: name)
                return GNUTLS_E_UNRECOGNIZED_NAME
            }
        }
        guard let name = peerName(), let chains else { return 0 }
        guard let chosen = chains.entries.first(where: { $0.leaf.matches(name) }) else { return 0 }
        return gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, UnsafeMutableRawPointer(chosen.credentials.pointer))
    }
}
