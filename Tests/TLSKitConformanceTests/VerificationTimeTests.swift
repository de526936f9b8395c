import Foundation
import TLSKit
import TLSKitTestSupport
import Testing

@Suite("Verification time")
struct VerificationTimeTests {
    static func at(_ date: Date) -> TLSVerificationTime { TLSVerificationTime(secondsSince1970: Int64(date.timeIntervalSince1970)) }

    @Test(arguments: TestBackends.all)
    func verifiesAsOfTheGivenTime(backend: BackendUnderTest) throws {
        let b = try backend.make()
        let oldRoot = try TestPKI.Authority.root(name: "Old Root", notBefore: Date().addingTimeInterval(-86_400 * 30))
        let lapsed = try oldRoot.issue(
            usage: .server, notBefore: Date().addingTimeInterval(-86_400 * 10), notAfter: Date().addingTimeInterval(-86_400))
        var then = Fixtures.clientConfig(trusting: oldRoot)
        then.verificationTime = Self.at(Date().addingTimeInterval(-86_400 * 2))
        guard b.capabilities.supports(.verificationTime) else {
            let error = #expect(throws: TLSError.self) { _ = try b.makeClientContext(then) }
            #expect(error?.code == .unsupportedFeature)
            #expect(error?.feature == "verificationTime")
            return
        }
        // Expired now, valid two days ago.
        let past = try ConnectionPair(client: b.makeClientContext(then), server: b.makeServerContext(Fixtures.serverConfig(lapsed)))
        #expect(past.handshake(), "\(String(describing: past.clientError))")

        // Valid now, expired in two years.
        var later = Fixtures.clientConfig()
        later.verificationTime = Self.at(Date().addingTimeInterval(86_400 * 730))
        let future = try ConnectionPair(client: b.makeClientContext(later), server: b.makeServerContext(Fixtures.serverConfig()))
        #expect(!future.handshake())
        #expect(future.clientError?.verificationFailure?.reason == .expired)
    }
}
