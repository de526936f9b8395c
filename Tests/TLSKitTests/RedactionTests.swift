import TLSKit
import Testing

@Suite("PIN redaction")
struct RedactionTests {
    /// Inputs that hold the PIN 4711 (or 4711xyz) somewhere; none of the outputs may.
    static let carriers: [String] = [
        "pkcs11:token=t;object=k;type=private?pin-value=4711",
        "pkcs11:token=t;object=k?pin-value=4711&module-path=/usr/lib/p11.so",
        "pkcs11:token=t;pin-value=4711;object=k",
        "pkcs11:token=t?PIN-VALUE=4711",
        "pkcs11:token=t?Pin-Value=4711",
        "pkcs11:token=t?pin%2Dvalue=4711",
        "pkcs11:token=t?pin-value%3D4711",
        "pkcs11:token=t?%70%69%6E%2D%76%61%6C%75%65%3D4711",
        "pkcs11:token=t?pin%2dvalue%3d4711",
        "outer:?uri=pkcs11%3Atoken%3Dt%3Fpin%252Dvalue%253D4711",
        "pkcs11:token=t?pin-value=4711&pin-value=4711xyz",
        "pkcs11:token=t?pin-value=4711;pin-value=4711",
        "pkcs11:token=t?pin-value=47%2611",
        "no private key found at pkcs11:token=t?pin-value=4711: The requested data were not available",
        "first pkcs11:a?pin-value=4711 then pkcs11:b?PIN-VALUE=4711xyz\nand pkcs11:c;pin-value=4711",
        "pin-value=4711",
    ]

    @Test(arguments: carriers)
    func noPINSurvives(text: String) {
        let redacted = TLSRedaction.redactingPIN(text)
        #expect(!redacted.contains("4711"), "\(redacted)")
        #expect(!redacted.contains("47"), "\(redacted)")
        #expect(redacted.contains("***"))
    }

    @Test(arguments: carriers + ["pkcs11:token=t;pin-source=file:/run/pin.txt", "plain text", "", "pin-value", "%", "%2", "pin-value%"])
    func isIdempotent(text: String) {
        let once = TLSRedaction.redactingPIN(text)
        #expect(TLSRedaction.redactingPIN(once) == once)
    }

    @Test func keepsEverythingElse() {
        #expect(
            TLSRedaction.redactingPIN("pkcs11:token=t;object=k;type=private?pin-value=1234&module-name=softhsm2")
                == "pkcs11:token=t;object=k;type=private?pin-value=***&module-name=softhsm2")
        #expect(TLSRedaction.redactingPIN("pkcs11:token=t;object=k?pin-value=1234") == "pkcs11:token=t;object=k?pin-value=***")
        #expect(TLSRedaction.redactingPIN("pkcs11:token=t;pin-value=1;object=k") == "pkcs11:token=t;pin-value=***;object=k")
        // pin-source says where the PIN is, not what it is.
        #expect(
            TLSRedaction.redactingPIN("pkcs11:token=t?pin-source=file:/run/pin.txt")
                == "pkcs11:token=t?pin-source=file:/run/pin.txt")
        #expect(TLSRedaction.redactingPIN("handle:0x81000001") == "handle:0x81000001")
        #expect(TLSRedaction.redactingPIN("bücher pin: none") == "bücher pin: none")
    }

    @Test func everyCredentialDescriptionRedacts() {
        let uri = "pkcs11:token=t;object=k?PIN-VALUE=4711"
        for text in [
            TLSCertificate.identifier(uri).description, TLSTrustStore.identifier(uri).description,
            TLSPrivateKey.identifier(uri).description, "\(TLSCertificate.identifier(uri))",
            "\(TLSTrustStore.identifier(uri))", String(describing: TLSPrivateKey.identifier(uri)),
        ] {
            #expect(!text.contains("4711"), "\(text)")
            #expect(text.contains("pkcs11:token=t;object=k?PIN-VALUE=***"), "\(text)")
        }
    }
}
