import Foundation
import Synchronization
import TLSKit
import TLSKitTestSupport
import Testing

@testable import TLSKitOpenSSL

/// Keys and certificates on the SoftHSM2 token (scripts/hwkeys) through OpenSSL 3's
/// pkcs11-provider: no ENGINE. In CI a missing token set-up or provider fails.
@Suite("PKCS#11 through the OpenSSL provider", .enabled(if: HardwareKeys.available || HardwareKeys.required))
struct PKCS11ProviderTests {
    static func backend(engines: [OpenSSLEngine] = []) throws -> OpenSSLBackend {
        try OpenSSLBackend(providers: [.default, .pkcs11(module: try HardwareKeys.value("PKCS11_MODULE"))], engines: engines)
    }

    @Test(arguments: [TLSProtocolVersion.tls1_2, .tls1_3])
    func serverKeyOnTheTokenThroughTheProviderCompletesHandshakes(version: TLSProtocolVersion) throws {
        let ca = try HardwareKeys.value("TLSKIT_HWKEYS_CA")
        var server = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .file(try HardwareKeys.value("TOKEN_CERT")),
                privateKey: .identifier(try HardwareKeys.value("TOKEN_KEY") + "?pin-value=1234")))
        server.maximumVersion = version
        var client = TLSClientConfiguration(trustStore: .file(ca))
        client.minimumVersion = version
        let pair = try ConnectionPair(
            client: OpenSSLBackend().makeClientContext(client), server: Self.backend().makeServerContext(server))
        #expect(pair.handshake(), "\(String(describing: pair.clientError)) / \(String(describing: pair.serverError))")
        #expect(pair.client.connectionInfo?.protocolVersion == version)
        #expect(try pair.send(Array("from the token".utf8), from: pair.server) == Array("from the token".utf8))
    }

    @Test func certificateAndKeyByURIWithThePINFromCode() throws {
        let ca = try HardwareKeys.value("TLSKIT_HWKEYS_CA")
        let server = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .identifier(try HardwareKeys.value("TOKEN_CERT_URI")),
                privateKey: .identifier(try HardwareKeys.value("TOKEN_KEY"), passphrase: .text("1234"))))
        let pair = try ConnectionPair(
            client: OpenSSLBackend().makeClientContext(TLSClientConfiguration(trustStore: .file(ca))),
            server: Self.backend().makeServerContext(server))
        #expect(pair.handshake(), "\(String(describing: pair.clientError)) / \(String(describing: pair.serverError))")
    }

    @Test func theKeyStaysOnTheTokenAndIsHeldByTheProvider() throws {
        let backend = try Self.backend()
        let key = TLSPrivateKey.identifier(try HardwareKeys.value("TOKEN_KEY") + "?pin-value=1234")
        #expect(try backend.keyHolderForTesting(key) == "pkcs11")
        #expect(try !HardwareKeyTests.isThePrivateKey(backend.exportedPrivateKeyForTesting(key), of: HardwareKeys.value("TOKEN_CERT")))
        #expect(backend.capabilities.features.contains(.pkcs11Keys))
        #expect(backend.capabilities.identifierSchemes.contains("pkcs11"))
    }

    @Test func theProviderWinsOverTheENGINEWhenBothAreConfigured() throws {
        let module = try HardwareKeys.value("PKCS11_MODULE")
        let key = TLSPrivateKey.identifier(try HardwareKeys.value("TOKEN_KEY") + "?pin-value=1234")
        #expect(try Self.backend(engines: [.pkcs11(modulePath: module)]).keyHolderForTesting(key) == "pkcs11")
        // Without the provider the ENGINE bridge still serves: the fallback.
        #expect(try OpenSSLBackend(engines: [.pkcs11(modulePath: module)]).keyHolderForTesting(key) == "engine")
    }

    /// Several backends on one token, loading and signing at once: pkcs11-provider's key
    /// cache put session copies of the key where another instance's search found them and
    /// then lost them (CKR_OBJECT_HANDLE_INVALID: "no private key found", 1 run in 4 of this
    /// suite). The provider is now loaded with `pkcs11-module-cache-keys = false`.
    @Test func backendsOnOneTokenLoadAndSignAtOnce() throws {
        let module = try HardwareKeys.value("PKCS11_MODULE")
        let key = TLSPrivateKey.identifier(try HardwareKeys.value("TOKEN_KEY") + "?pin-value=1234")
        let server = TLSServerConfiguration(
            certificateChain: TLSSigningChain(certificate: .file(try HardwareKeys.value("TOKEN_CERT")), privateKey: key))
        let client = try OpenSSLBackend().makeClientContext(
            TLSClientConfiguration(trustStore: .file(try HardwareKeys.value("TLSKIT_HWKEYS_CA"))))
        let failures = Mutex([String]())
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for round in 0..<30 {
                do {
                    let backend = try OpenSSLBackend(providers: [.default, .pkcs11(module: module)])
                    if (thread + round) % 2 == 0 {
                        #expect(try backend.keyHolderForTesting(key) == "pkcs11")
                    } else {
                        let pair = try ConnectionPair(client: client, server: backend.makeServerContext(server))
                        if !pair.handshake() { failures.withLock { $0.append("handshake: \(String(describing: pair.serverError))") } }
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        let seen = failures.withLock { $0 }
        #expect(seen.isEmpty, "\(seen.count) of 120 failed, first: \(seen.first ?? "")")
    }

    // A wrong PIN is tested in a fresh process (IntegrationTests/cli/hardware-keys.sh): a
    // PKCS#11 login holds for the whole process, so after another test logged in, the token
    // no longer asks.

    @Test func aWrongModulePathFailsWhenTheBackendIsMade() throws {
        #expect {
            _ = try OpenSSLBackend(providers: [.default, .pkcs11(module: "/nonexistent/libnothing.so")])
        } throws: { error in
            guard let error = error as? TLSError else { return false }
            return error.code == .configuration && error.message.contains("pkcs11")
        }
    }
}

/// How the backend loads pkcs11-provider, whatever the token (no hardware needed).
@Suite("pkcs11-provider settings")
struct PKCS11ProviderSettingsTests {
    @Test func theKeyCacheIsOffHoweverTheProviderIsNamed() {
        for provider in [OpenSSLProvider.pkcs11(), .pkcs11(module: "/x.so"), "pkcs11", OpenSSLProvider("pkcs11", parameters: ["a": "b"])] {
            #expect(provider.withTLSKitDefaults.parameters["pkcs11-module-cache-keys"] == "false", "\(provider)")
        }
        let chosen = OpenSSLProvider("pkcs11", parameters: ["pkcs11-module-cache-keys": "true"])
        #expect(chosen.withTLSKitDefaults == chosen)
        #expect(OpenSSLProvider.default.withTLSKitDefaults == .default)
    }
}
