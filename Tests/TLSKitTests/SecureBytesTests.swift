import TLSKit
import Testing

@Suite("Secure bytes")
struct SecureBytesTests {
    @Test func equalValuesHashEqual() {
        let a = TLSSecureBytes([1, 2, 3, 4])
        let b = TLSSecureBytes([1, 2, 3, 4])  // separate storage, same contents
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(Set([a, b]).count == 1)
        #expect(Set([a]).contains(b))
        #expect([TLSPassphrase.text("pin"): 1][TLSPassphrase.text("pin")] == 1)
        #expect(TLSPrivateKey.pem("key") == TLSPrivateKey.pem("key"))
        #expect(Set([TLSPrivateKey.pem("key"), TLSPrivateKey.pem("key")]).count == 1)
    }

    @Test func wipingInitializerZeroesTheCallersArrayInPlace() {
        var secret: [UInt8] = Array("correct horse battery staple".utf8)
        let address = secret.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        let bytes = TLSSecureBytes(wiping: &secret)
        // The caller's own buffer (not a copy of it) now holds zeros, at the same length.
        #expect(secret.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } == address)
        #expect(secret.count == 28)
        #expect(secret.allSatisfy { $0 == 0 })
        #expect(bytes.withUnsafeBytes { Array($0) } == Array("correct horse battery staple".utf8))
        #expect(bytes == TLSSecureBytes(utf8: "correct horse battery staple"))
    }

    @Test func wipingAnEmptyArrayIsFine() {
        var empty: [UInt8] = []
        let bytes = TLSSecureBytes(wiping: &empty)
        #expect(bytes.count == 0)
        #expect(empty.isEmpty)
    }
}
