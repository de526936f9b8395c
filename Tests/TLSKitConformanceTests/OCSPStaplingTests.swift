import Foundation
import TLSKit
import TLSKitTestSupport
import Testing

/// A CA, leaves and OCSP responses made with the openssl CLI (`openssl ocsp` as the
/// responder; `faketime` for a response whose validity is over), once per test process.
final class OCSPFixtures: Sendable {
    static let shared = try! OCSPFixtures()

    let directory: String

    private init() throws {
        for tool in ["openssl", "faketime"] { _ = try Tools.path(of: tool) }
        directory = try Fixtures.temporaryDirectory().path
        let script = #"""
            set -e
            cd "$1"
            ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
            openssl req -x509 $ec -keyout ca.key -out ca.pem -days 30 -subj "/CN=TLSKit OCSP test CA" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
            openssl req -x509 $ec -keyout other.key -out other.pem -days 30 -subj "/CN=TLSKit other CA" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
            leaf() { # name serial extra-extension-lines
                openssl req -new $ec -keyout "$1.key" -subj /CN=localhost -out "$1.csr" 2>/dev/null
                printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n%b' "$3" > "$1.ext"
                openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "$2" -days 30 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
            }
            leaf good 1001 ""
            leaf revoked 1002 ""
            leaf muststaple 1003 "tlsfeature=status_request\n"
            end=$(date -u -d '+30 days' +%y%m%d%H%M%SZ)
            revoked=$(date -u -d '-1 hour' +%y%m%d%H%M%SZ)
            echo "unique_subject = no" > index.txt.attr  # three leaves named localhost
            printf 'V\t%s\t\t03E9\tunknown\t/CN=localhost\n' "$end" > index.txt
            printf 'R\t%s\t%s\t03EA\tunknown\t/CN=localhost\n' "$end" "$revoked" >> index.txt
            printf 'V\t%s\t\t03EB\tunknown\t/CN=localhost\n' "$end" >> index.txt
            respond() { # certificate output signer signer-key [command prefix]
                openssl ocsp -issuer ca.pem -cert "$1.pem" -no_nonce -reqout "$2.req" 2>/dev/null
                ${5:-} openssl ocsp -index index.txt -rsigner "$3.pem" -rkey "$3.key" -CA ca.pem -reqin "$2.req" \
                    -respout "$2.der" -ndays 1 > /dev/null 2>&1
                test -s "$2.der"
            }
            respond good good ca ca
            respond revoked revoked ca ca
            respond muststaple muststaple ca ca
            respond good expired ca ca "faketime -3days"
            respond good wrongissuer other other
            """#
        #expect(try Tools.run("bash", ["-c", script, "ocsp-fixtures", directory]) == 0, "making the OCSP fixtures failed")
    }

    func path(_ name: String) -> String { "\(directory)/\(name)" }
    func response(_ name: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path("\(name).der")) ?? Data()) }

    /// The chain of leaf `name`, stapling response `staple` (a file name without .der).
    func chain(_ name: String, staple: String?) -> TLSSigningChain {
        TLSSigningChain(
            certificate: .file(path("\(name).pem")), privateKey: .file(path("\(name).key")),
            ocspResponse: staple.map { .file(path("\($0).der")) })
    }

    func client(_ stapling: TLSOCSPStapling = .checkIfStapled, version: TLSProtocolVersion) -> TLSClientConfiguration {
        var config = TLSClientConfiguration(trustStore: .file(path("ca.pem")))
        config.ocspStapling = stapling
        config.minimumVersion = version
        config.maximumVersion = version
        return config
    }
}

/// OCSP stapling: servers staple, clients ask, verify and can require, on both backends and
/// across them, TLS 1.2 and 1.3.
@Suite("OCSP stapling")
struct OCSPStaplingTests {
    static let versions: [TLSProtocolVersion] = [.tls1_2, .tls1_3]

    func connect(_ backends: BackendPair, server chain: TLSSigningChain, client: TLSClientConfiguration) throws -> ConnectionPair {
        try ConnectionPair(
            client: backends.client.make().makeClientContext(client),
            server: backends.server.make().makeServerContext(TLSServerConfiguration(certificateChain: chain)), serverName: "localhost")
    }

    @Test(arguments: TestBackends.allPairs, versions)
    func aGoodResponseIsStapledVerifiedAndShown(backends: BackendPair, version: TLSProtocolVersion) throws {
        let ocsp = OCSPFixtures.shared
        for stapling in [TLSOCSPStapling.checkIfStapled, .require] {
            let pair = try connect(backends, server: ocsp.chain("good", staple: "good"), client: ocsp.client(stapling, version: version))
            #expect(pair.handshake(), "\(stapling): \(String(describing: pair.clientError)) / \(String(describing: pair.serverError))")
            #expect(pair.client.connectionInfo?.ocspResponse == ocsp.response("good"), "\(stapling)")
            #expect(pair.server.connectionInfo?.ocspResponse == nil)
        }
        // A client that does not ask gets nothing stapled.
        let quiet = try connect(backends, server: ocsp.chain("good", staple: "good"), client: ocsp.client(.ignore, version: version))
        #expect(quiet.handshake())
        #expect(quiet.client.connectionInfo?.ocspResponse == nil)
    }

    /// Served by the OpenSSL backend: a GnuTLS server refuses to staple a "revoked"
    /// response (aServerRefusesAResponseItMustNotStaple).
    @Test(arguments: TestBackends.all.map { BackendPair(client: $0, server: TestBackends.all.first { $0.name == "openssl" }!) }, versions)
    func aRevokedResponseFailsTheHandshake(backends: BackendPair, version: TLSProtocolVersion) throws {
        let ocsp = OCSPFixtures.shared
        let pair = try connect(backends, server: ocsp.chain("revoked", staple: "revoked"), client: ocsp.client(version: version))
        #expect(!pair.handshake())
        #expect(pair.clientError?.code == .certificateVerification, "\(String(describing: pair.clientError))")
        #expect(pair.clientError?.verificationFailure?.reason == .revoked, "\(String(describing: pair.clientError))")
        // The alert the server is told (BackendDifferences.md).
        let alert: TLSAlert = backends.client.name == "openssl" ? .badCertificateStatusResponse : .badCertificate
        #expect(pair.serverError?.alert == alert, "\(String(describing: pair.serverError))")
        // Told not to ask, an OpenSSL client never sees it. GnuTLS 3.7 always asks, and its
        // own verification refuses a revoked staple (BackendDifferences.md).
        let ignoring = try connect(backends, server: ocsp.chain("revoked", staple: "revoked"), client: ocsp.client(.ignore, version: version))
        #expect(ignoring.handshake() == (backends.client.name == "openssl"))
    }

    /// Responses a server should never staple; the OpenSSL backend staples what it is given
    /// (GnuTLS's server leaves out a response past its nextUpdate: BackendDifferences.md).
    @Test(arguments: TestBackends.all, versions)
    func expiredAndWronglySignedResponsesAreInvalid(client backend: BackendUnderTest, version: TLSProtocolVersion) throws {
        let ocsp = OCSPFixtures.shared
        let server = try TestBackends.all.first { $0.name == "openssl" }!.make()
        for staple in ["expired", "wrongissuer"] {
            let pair = try ConnectionPair(
                client: backend.make().makeClientContext(ocsp.client(version: version)),
                server: server.makeServerContext(TLSServerConfiguration(certificateChain: ocsp.chain("good", staple: staple))),
                serverName: "localhost")
            #expect(!pair.handshake(), "\(staple)")
            #expect(pair.clientError?.verificationFailure?.reason == .ocspResponseInvalid, "\(staple): \(String(describing: pair.clientError))")
            #expect(pair.clientError?.message.contains("OCSP") == true, "\(staple): \(String(describing: pair.clientError))")
        }
    }

    @Test(arguments: TestBackends.allPairs, versions)
    func requireAndMustStapleNeedAResponse(backends: BackendPair, version: TLSProtocolVersion) throws {
        let ocsp = OCSPFixtures.shared
        // Nothing stapled: fine by default, refused under .require.
        let plain = try connect(backends, server: ocsp.chain("good", staple: nil), client: ocsp.client(version: version))
        #expect(plain.handshake())
        #expect(plain.client.connectionInfo?.ocspResponse == nil)
        let required = try connect(backends, server: ocsp.chain("good", staple: nil), client: ocsp.client(.require, version: version))
        #expect(!required.handshake())
        #expect(required.clientError?.verificationFailure?.reason == .ocspResponseMissing, "\(String(describing: required.clientError))")
        // A must-staple certificate without its response is refused by default; with it, accepted.
        let bare = try connect(backends, server: ocsp.chain("muststaple", staple: nil), client: ocsp.client(version: version))
        #expect(!bare.handshake())
        #expect(bare.clientError?.verificationFailure?.reason == .ocspResponseMissing, "\(String(describing: bare.clientError))")
        let stapled = try connect(backends, server: ocsp.chain("muststaple", staple: "muststaple"), client: ocsp.client(version: version))
        #expect(stapled.handshake(), "\(String(describing: stapled.clientError))")
    }

    @Test(arguments: TestBackends.all)
    func aServerRefusesAResponseItMustNotStaple(backend: BackendUnderTest) throws {
        let ocsp = OCSPFixtures.shared
        // Another certificate's response, and a certificate instead of a response.
        var cases = [("good", "revoked.der"), ("good", "good.pem")]
        // GnuTLS also refuses a response that is past its nextUpdate or says "revoked".
        if backend.name == "gnutls" { cases += [("good", "expired.der"), ("revoked", "revoked.der")] }
        for (leaf, staple) in cases {
            var chain = ocsp.chain(leaf, staple: nil)
            chain.ocspResponse = .file(ocsp.path(staple))
            let error = #expect(throws: TLSError.self) {
                _ = try backend.make().makeServerContext(TLSServerConfiguration(certificateChain: chain))
            }
            #expect(error?.code == .configuration, "\(staple)")
            #expect(error?.feature == "certificateChains[0].ocspResponse", "\(staple): \(String(describing: error))")
        }
    }

    @Test(arguments: TestBackends.allPairs, versions)
    func aResumedSessionReliesOnTheFullHandshakesCheck(backends: BackendPair, version: TLSProtocolVersion) throws {
        let ocsp = OCSPFixtures.shared
        let client = try backends.client.make().makeClientContext(ocsp.client(.require, version: version))
        let server = try backends.server.make().makeServerContext(TLSServerConfiguration(certificateChain: ocsp.chain("good", staple: "good")))
        let first = try #require(try ResumptionTests.connect(client, server))
        #expect(first.ocspResponse == ocsp.response("good"))
        let second = try #require(try ResumptionTests.connect(client, server), "a resumption under .require must not need a new staple")
        #expect(second.resumed)
        #expect(second.ocspResponse == nil)
    }

    @Test(arguments: TestBackends.all)
    func theResolverCanSupplyTheResponse(backend: BackendUnderTest) throws {
        let ocsp = OCSPFixtures.shared
        var hooks = TLSContextHooks()
        hooks.certificateResolver = { _ in .chain(ocsp.chain("good", staple: "good")) }
        let server = try backend.make().makeServerContext(TLSServerConfiguration(certificateChain: ocsp.chain("revoked", staple: nil)), hooks: hooks)
        let pair = try ConnectionPair(client: backend.make().makeClientContext(ocsp.client(.require, version: .tls1_3)), server: server)
        #expect(pair.handshake(), "\(String(describing: pair.clientError))")
        #expect(pair.client.connectionInfo?.ocspResponse == ocsp.response("good"))
    }

    @Test(arguments: TestBackends.all)
    func pinnedKeysAreNotCheckedAndCannotRequireAStaple(backend: BackendUnderTest) throws {
        let ocsp = OCSPFixtures.shared
        var config = TLSClientConfiguration(trustStore: .pinned(certificates: [.file(ocsp.path("good.pem"))]))
        config.ocspStapling = .require
        let error = #expect(throws: TLSError.self) { _ = try backend.make().makeClientContext(config) }
        #expect(error?.feature == "ocspStapling", "\(String(describing: error))")
        // The pin is the trust: a stapled response is neither checked nor shown.
        config.ocspStapling = .checkIfStapled
        let server = try TestBackends.all.first { $0.name == "openssl" }!.make()
        let pair = try ConnectionPair(
            client: backend.make().makeClientContext(config),
            server: server.makeServerContext(TLSServerConfiguration(certificateChain: ocsp.chain("good", staple: "good"))),
            serverName: "localhost")
        #expect(pair.handshake(), "\(String(describing: pair.clientError))")
        #expect(pair.client.connectionInfo?.peerVerification == .pinned)
        #expect(pair.client.connectionInfo?.ocspResponse == nil)
    }
}
