import Foundation
import TLSKit
import TLSKitOpenSSL
import TLSKitTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Secrets never show up in descriptions, error messages or backend error entries, and
/// secret-bearing descriptors are not inherited by child processes.
@Suite("Negative: secrets are never printed")
struct SecretsTests {
    static let pin = "271828"
    /// Identifiers no store resolves, each carrying the PIN in another spelling.
    static let uris = [
        "pkcs11:token=no-such-token;object=nothing;type=cert?pin-value=\(pin)",
        "pkcs11:token=no-such-token;object=nothing?PIN-VALUE=\(pin)&module-name=none",
        "pkcs11:token=no-such-token;pin-value=\(pin);object=nothing",
        "pkcs11:token=no-such-token;object=nothing?pin%2Dvalue%3D\(pin)",
    ]
    static let cases: [(BackendUnderTest, String)] = TestBackends.all.flatMap { b in uris.map { (b, $0) } }

    static func expectNoPIN(_ error: TLSError?, _ what: String) {
        #expect(error != nil, "\(what): no error")
        guard let error else { return }
        #expect(!error.message.contains(pin), "\(what) message: \(error.message)")
        #expect(!error.description.contains(pin), "\(what) description: \(error.description)")
        #expect(!"\(error)".contains(pin), "\(what): \(error)")
        for entry in error.backendErrors { #expect(!entry.contains(pin), "\(what) backend entry: \(entry)") }
    }

    @Test(arguments: cases)
    func certificateByUnknownURI(backend: BackendUnderTest, uri: String) throws {
        let certificate = TLSCertificate.identifier(uri)
        #expect(!certificate.description.contains(Self.pin), "\(certificate)")
        let config = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: certificate, privateKey: .pem(Fixtures.server.privateKeyPEM)))
        let error = #expect(throws: TLSError.self) { _ = try backend.make().makeServerContext(config) }
        Self.expectNoPIN(error, "\(backend) certificate")
    }

    @Test(arguments: cases)
    func trustStoreByUnknownURI(backend: BackendUnderTest, uri: String) throws {
        let store = TLSTrustStore.identifier(uri)
        #expect(!store.description.contains(Self.pin), "\(store)")
        var config = TLSClientConfiguration(trustStore: store)
        config.serverName = try TLSServerName("localhost")
        let error = #expect(throws: TLSError.self) { _ = try backend.make().makeClientContext(config) }
        Self.expectNoPIN(error, "\(backend) trust store")
    }

    @Test(arguments: cases)
    func keyByUnknownURI(backend: BackendUnderTest, uri: String) throws {
        let key = TLSPrivateKey.identifier(uri.replacingOccurrences(of: "type=cert", with: "type=private"))
        #expect(!key.description.contains(Self.pin), "\(key)")
        let config = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .pem(Fixtures.server.certificatePEM), privateKey: key))
        let error = #expect(throws: TLSError.self) { _ = try backend.make().makeServerContext(config) }
        Self.expectNoPIN(error, "\(backend) key")
    }

    @Test(arguments: cases)
    func listingAnUnknownStore(backend: BackendUnderTest, uri: String) throws {
        guard let browser = try backend.make() as? any TLSKeyStoreBrowsing else { return }
        do {
            let objects = try browser.listObjects(in: uri, passphrase: nil)
            for object in objects { #expect(!object.description.contains(Self.pin), "\(object)") }
        } catch {
            Self.expectNoPIN(error, "\(backend) listing")
        }
    }

    /// The provider configuration travels in a memfd; a process spawned meanwhile by another
    /// thread must not inherit it.
    @Test func providerConfigurationDescriptorIsCloseOnExec() throws {
        let flags = try OpenSSLBackend.providerConfigurationDescriptorFlags()
        #expect(flags >= 0)
        #expect(flags & FD_CLOEXEC != 0, "F_GETFD = \(flags)")
    }
}
