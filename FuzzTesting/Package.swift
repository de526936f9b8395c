// swift-tools-version: 6.1
// TLSKit's libFuzzer targets: a separate package so that nobody who uses TLSKit resolves or
// builds it. Build and run them with scripts/fuzz (see README.md), which passes
// `-Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library` so that libFuzzer
// supplies `main` and each target supplies `LLVMFuzzerTestOneInput`.
//
// Only TLSKit, its two backends and TLSKitInsecure are linked: no swift-crypto (a long
// build); the test PKI is committed PEM made with the openssl CLI (PKI/make-pki.sh).
import PackageDescription

let targets = [
    "openssl-server", "gnutls-server", "openssl-client", "gnutls-client",
    "openssl-session", "gnutls-session", "chain-differential", "parsers",
]

let package = Package(
    name: "TLSKitFuzzTesting",
    dependencies: [
        .package(name: "TLSKit", path: "..", traits: ["GnuTLS"])
    ],
    targets: [
        .target(name: "CFuzzDriver"),
        .target(
            name: "FuzzCore",
            dependencies: [
                "CFuzzDriver",
                .product(name: "TLSKit", package: "TLSKit"),
                .product(name: "TLSKitOpenSSL", package: "TLSKit"),
                .product(name: "TLSKitGnuTLS", package: "TLSKit"),
                .product(name: "TLSKitInsecure", package: "TLSKit"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
        + targets.map { name in
            .executableTarget(
                name: name,
                dependencies: ["FuzzCore", "CFuzzDriver"],
                swiftSettings: [.swiftLanguageMode(.v6)]
            )
        }
)
