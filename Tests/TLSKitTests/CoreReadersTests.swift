import Testing

@testable import TLSKit

/// The readers the backends share: PKCS#11 URIs, file: URIs, PEM detection, the
/// connection contract's sticky error.
@Suite("Core readers")
struct CoreReadersTests {
    @Test func aPINIsTakenOutOfThePathOrTheQuery() throws {
        let path = try #require(TLSPKCS11URI("pkcs11:token=t;object=k;pin-value=12%3B34;type=private"))
        #expect(path.pin == "12;34")
        #expect(path.withoutPIN == "pkcs11:token=t;object=k;type=private")
        let query = try #require(TLSPKCS11URI("pkcs11:token=t;object=k?module-path=/m.so&pin-value=9999"))
        #expect(query.pin == "9999")
        #expect(query.withoutPIN == "pkcs11:token=t;object=k?module-path=/m.so")
        let none = try #require(TLSPKCS11URI("PKCS11:token=t"))
        #expect(!none.hasPIN)
        #expect(none.withoutPIN == "PKCS11:token=t")
        #expect(TLSPKCS11URI("file:/etc/key.pem") == nil)
        #expect(TLSPKCS11URI("pkcs1") == nil)
    }

    @Test func aGivenPINCannotAddAttributes() throws {
        let uri = try #require(TLSPKCS11URI("pkcs11:token=t;object=k"))
        let hostile = "1;object=other&pin-source=/etc/shadow?x"
        let joined = uri.adding(pin: TLSSecureBytes(utf8: hostile))
        #expect(joined == "pkcs11:token=t;object=k?pin-value=1%3Bobject%3Dother%26pin-source%3D%2Fetc%2Fshadow%3Fx")
        let back = try #require(TLSPKCS11URI(joined))
        #expect(back.pin == hostile)
        #expect(back.withoutPIN == "pkcs11:token=t;object=k")
        #expect(!TLSRedaction.redactingPIN(joined).contains("shadow"))
        let withQuery = try #require(TLSPKCS11URI("pkcs11:token=t?module-name=softhsm2"))
        #expect(withQuery.adding(pin: TLSSecureBytes(utf8: "ab-9")) == "pkcs11:token=t?module-name=softhsm2&pin-value=ab-9")
    }

    @Test func fileURIsNameLocalAbsolutePathsOnly() {
        #expect(TLSCredentialFiles.path(fromFileURI: "file:/etc/ssl/a.pem") == "/etc/ssl/a.pem")
        #expect(TLSCredentialFiles.path(fromFileURI: "file:///etc/ssl/a%20b.pem") == "/etc/ssl/a b.pem")
        #expect(TLSCredentialFiles.path(fromFileURI: "file://localhost/k.pem") == "/k.pem")
        #expect(TLSCredentialFiles.path(fromFileURI: "file://evil.example/k.pem") == nil)
        #expect(TLSCredentialFiles.path(fromFileURI: "file:relative.pem") == nil)
        #expect(TLSCredentialFiles.path(fromFileURI: "file://") == nil)
        #expect(TLSCredentialFiles.path(fromFileURI: "pkcs11:token=t") == nil)
    }

    @Test func pemIsRecognisedAnywhereInTheBytes() {
        #expect(TLSCredentialFiles.looksLikePEM(Array("junk\n-----BEGIN CERTIFICATE-----".utf8)))
        #expect(TLSCredentialFiles.looksLikePEM(Array("------BEGIN X".utf8)))
        #expect(!TLSCredentialFiles.looksLikePEM(Array("-----BEGI".utf8)))
        #expect(!TLSCredentialFiles.looksLikePEM([0x30, 0x82, 0x01, 0x0a]))
    }

    @Test func aMissingEnvironmentPassphraseIsNamed() {
        let name = "TLSKIT_TEST_UNSET_\(UInt32.random(in: 0...UInt32.max))"
        #expect {
            _ = try TLSPassphrase.environment(name).resolve(field: "privateKey")
        } throws: { error in
            "\(error)".contains(name) && (error as? TLSError)?.code == .configuration
        }
    }

    @Test func theFirstFatalErrorSticks() {
        var state = TLSConnectionState()
        let first = TLSError(.handshake, "first")
        let recorded = state.fail(first)
        let second = state.fail(TLSError(.internal, "second"))
        #expect(recorded.message == "first")
        #expect(second.message == "first")
        #expect(state.error?.message == "first")
        let firstEnd = state.markInputEnded()
        let secondEnd = state.markInputEnded()
        #expect(firstEnd)
        #expect(!secondEnd)
        #expect(throws: TLSError.self) { try state.checkReceive() }
    }

    /// Found by the parsers fuzz target (seeds FuzzTesting/Corpora/parsers/regression-name-*).
    @Test func serverNamesRefuseHiddenAddresses() {
        #expect(throws: TLSError.self) { try TLSServerName("127.0.0.1\u{0}.evil.example") }
        #expect(throws: TLSError.self) { try TLSServerName("127.1.0.1.") }
        #expect(throws: TLSError.self) { try TLSServerName("10.1") }
        #expect(throws: TLSError.self) { try TLSServerName("host.123") }
        #expect((try? TLSServerName("127.0.0.1"))?.ipAddress == [127, 0, 0, 1])
        #expect((try? TLSServerName("example.com."))?.dnsName == "example.com")
        #expect((try? TLSServerName("1.example"))?.dnsName == "1.example")
    }
}
