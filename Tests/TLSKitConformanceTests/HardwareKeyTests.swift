import Crypto
import Foundation
import SwiftASN1
import Synchronization
import TLSKit
import TLSKitTestSupport
import Testing
import X509
import _CryptoExtras

@testable import TLSKitOpenSSL

#if GnuTLS
import TLSKitGnuTLS
#endif

/// Keys held in a software TPM and on a SoftHSM2 token, used in-process. scripts/test sets
/// them up (scripts/hwkeys) and exports their environment; in CI a missing set-up fails.
enum HardwareKeys {
    static let environment = ProcessInfo.processInfo.environment
    static var available: Bool { environment["TLSKIT_HWKEYS_CA"] != nil }
    static var required: Bool { environment["CI"] != nil }

    static func value(_ name: String) throws -> String {
        try #require(environment[name], "\(name) is not set: run scripts/test, which sets up the software TPM and token")
    }
}

@Suite("Hardware-held keys", .enabled(if: HardwareKeys.available || HardwareKeys.required))
struct HardwareKeyTests {
    static func tpmBackend() throws -> OpenSSLBackend {
        try OpenSSLBackend(
            providers: [.default, .tpm2(tcti: try HardwareKeys.value("TPM_TCTI"))], propertyQuery: "?tpm2.signature")
    }

    @Test(arguments: [TLSProtocolVersion.tls1_2, .tls1_3])
    func serverKeyInTheTPMCompletesHandshakes(version: TLSProtocolVersion) throws {
        let ca = try HardwareKeys.value("TLSKIT_HWKEYS_CA")
        var server = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .file(try HardwareKeys.value("TPM_EC_CERT")), privateKey: .identifier("handle:0x81000001")))
        server.maximumVersion = version
        var client = TLSClientConfiguration(trustStore: .file(ca))
        client.minimumVersion = version
        let pair = try ConnectionPair(
            client: OpenSSLBackend().makeClientContext(client), server: Self.tpmBackend().makeServerContext(server))
        #expect(pair.handshake(), "\(String(describing: pair.clientError)) / \(String(describing: pair.serverError))")
        #expect(pair.client.connectionInfo?.protocolVersion == version)
        #expect(try pair.send(Array("from the TPM".utf8), from: pair.server) == Array("from the TPM".utf8))
    }

    /// Whether `der` is a private key whose public half is the certificate's: that is, the
    /// secret itself left the TPM or token.
    static func isThePrivateKey(_ der: [UInt8]?, of certificatePath: String) throws -> Bool {
        guard let der else { return false }
        let certificate = try Certificate(pemEncoded: String(contentsOfFile: certificatePath, encoding: .utf8))
        if let ec = try? P256.Signing.PrivateKey(derRepresentation: der) {
            return Certificate.PublicKey(ec.publicKey) == certificate.publicKey
        }
        if let rsa = try? _RSA.Signing.PrivateKey(derRepresentation: der) {
            return Certificate.PublicKey(rsa.publicKey) == certificate.publicKey
        }
        return false
    }

    @Test func aTPMKeyCannotBeExportedButAFileKeyCan() throws {
        let backend = try Self.tpmBackend()
        let cases = [
            (TLSPrivateKey.identifier("handle:0x81000001"), try HardwareKeys.value("TPM_EC_CERT")),
            (.identifier("handle:0x81000002"), try HardwareKeys.value("TPM_RSA_CERT")),
            (.file(try HardwareKeys.value("TPM_TSS2_KEY")), try HardwareKeys.value("TPM_TSS2_CERT")),
        ]
        for (key, certificate) in cases {
            #expect(try !Self.isThePrivateKey(backend.exportedPrivateKeyForTesting(key), of: certificate), "\(key) leaked its secret")
        }
        // Positive control: the same check finds a software key's secret, so it can fail.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tlskit-hw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let software = try TestPKI.Authority.root().issue()
        let paths = try software.write(to: dir, name: "soft")
        #expect(try Self.isThePrivateKey(backend.exportedPrivateKeyForTesting(.file(paths.key)), of: paths.certificate))
    }

    @Test func aTokenKeyCannotBeExportedThroughTheEngine() throws {
        let backend = try OpenSSLBackend(engines: [.pkcs11(modulePath: try HardwareKeys.value("PKCS11_MODULE"))])
        let uri = try HardwareKeys.value("TOKEN_KEY") + "?pin-value=1234"
        let exported = try backend.exportedPrivateKeyForTesting(.identifier(uri))
        #expect(try !Self.isThePrivateKey(exported, of: HardwareKeys.value("TOKEN_CERT")))
    }

    #if GnuTLS
    @Test func tokenKeyThroughGnuTLSWithThePINFromCode() throws {
        let ca = try HardwareKeys.value("TLSKIT_HWKEYS_CA")
        let server = TLSServerConfiguration(
            certificateChain: TLSSigningChain(
                certificate: .identifier(try HardwareKeys.value("TOKEN_CERT_URI")),
                privateKey: .identifier(try HardwareKeys.value("TOKEN_KEY"), passphrase: .text("1234"))))
        let pair = try ConnectionPair(
            client: OpenSSLBackend().makeClientContext(TLSClientConfiguration(trustStore: .file(ca))),
            server: GnuTLSBackend().makeServerContext(server))
        #expect(pair.handshake(), "\(String(describing: pair.clientError)) / \(String(describing: pair.serverError))")
    }

    /// libp11's ENGINE and GnuTLS (p11-kit) on one token at once, on 4 threads: a token's
    /// sessions belong to the process, and loads that overlapped failed with "Session handle
    /// invalid" (seen in CI under ASan). Loads from a token now go one at a time in the
    /// process, on both backends.
    @Test func theEngineAndGnuTLSLoadFromOneTokenAtOnce() throws {
        let module = try HardwareKeys.value("PKCS11_MODULE")
        let uri = try HardwareKeys.value("TOKEN_KEY")
        let engineKey = TLSPrivateKey.identifier(uri + "?pin-value=1234")
        let chain = TLSSigningChain(
            certificate: .identifier(try HardwareKeys.value("TOKEN_CERT_URI")), privateKey: .identifier(uri, passphrase: .text("1234")))
        let failures = Mutex([String]())
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for _ in 0..<50 {
                do {
                    if thread % 2 == 0 {
                        let backend = try OpenSSLBackend(engines: [.pkcs11(modulePath: module)])
                        _ = try backend.exportedPrivateKeyForTesting(engineKey)
                    } else {
                        _ = try GnuTLSBackend().makeServerContext(TLSServerConfiguration(certificateChain: chain))
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        let seen = failures.withLock { $0 }
        #expect(seen.isEmpty, "\(seen.count) of 200 failed, first: \(seen.first ?? "")")
    }
    #endif
}
