// swift-tools-version: 6.1
//
// TLSKit: one TLS API for Swift with interchangeable backends. Linux only.
// Layers (see docs/Design.md and CONTRIBUTING.md): TLSKit (core, pure Swift) →
// backends (TLSKitOpenSSL over the system libssl ≥ 3.0, TLSKitGnuTLS) → adapters
// (TLSKitIO, TLSKitNIO); TLSKitX509 and TLSKitInsecure beside the core.
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "TLSKit",
    products: [
        .library(name: "TLSKit", targets: ["TLSKit"]),
        .library(name: "TLSKitOpenSSL", targets: ["TLSKitOpenSSL"]),
        .library(name: "TLSKitGnuTLS", targets: ["TLSKitGnuTLS"]),
        .library(name: "TLSKitIO", targets: ["TLSKitIO"]),
        .library(name: "TLSKitInsecure", targets: ["TLSKitInsecure"]),
        .library(name: "TLSKitNIO", targets: ["TLSKitNIO"]),
        .library(name: "TLSKitX509", targets: ["TLSKitX509"]),
        .executable(name: "tlskit", targets: ["tlskit"]),
    ],
    traits: [
        .trait(
            name: "GnuTLS",
            description: "Build the GnuTLS backend (needs libgnutls28-dev) into the tool and the tests."
        ),
        .default(enabledTraits: []),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        // Only for `swift package generate-documentation` (DocC); no target links it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // MARK: core
        .target(
            name: "TLSKit",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),

        // MARK: the fenced, insecure options (nothing in TLSKit depends on it)
        .target(
            name: "TLSKitInsecure",
            dependencies: ["TLSKit"],
            swiftSettings: strictSettings
        ),

        // MARK: the bridge to swift-certificates (parsing peers, reports, stricter policies)
        .target(
            name: "TLSKitX509",
            dependencies: [
                "TLSKit",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: OpenSSL 3 backend
        .systemLibrary(
            name: "CTLSKitOpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .yum(["openssl-devel"])]
        ),
        .target(
            name: "CTLSKitOpenSSLShims",
            dependencies: ["CTLSKitOpenSSL"]
        ),
        .target(
            name: "TLSKitOpenSSL",
            dependencies: [
                "TLSKit", "TLSKitInsecure", "CTLSKitOpenSSL", "CTLSKitOpenSSLShims",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: GnuTLS backend (opt-in: `--traits GnuTLS`)
        .systemLibrary(
            name: "CTLSKitGnuTLS",
            pkgConfig: "gnutls",
            providers: [.apt(["libgnutls28-dev"]), .yum(["gnutls-devel"])]
        ),
        .target(
            name: "CTLSKitGnuTLSShims",
            dependencies: ["CTLSKitGnuTLS"]
        ),
        .target(
            name: "TLSKitGnuTLS",
            dependencies: [
                "TLSKit", "TLSKitInsecure", "CTLSKitGnuTLS", "CTLSKitGnuTLSShims",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: adapters
        .target(
            name: "TLSKitIO",
            dependencies: ["TLSKit"],
            swiftSettings: strictSettings
        ),

        .target(
            name: "TLSKitNIO",
            dependencies: [
                "TLSKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: tool and test support
        .target(
            name: "TLSKitTestSupport",
            dependencies: [
                "TLSKit", "TLSKitOpenSSL", .target(name: "TLSKitGnuTLS", condition: .when(traits: ["GnuTLS"])),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "tlskit",
            dependencies: [
                "TLSKit", "TLSKitOpenSSL", "TLSKitIO", "TLSKitInsecure", "TLSKitX509", "TLSKitNIO",
                .target(name: "TLSKitGnuTLS", condition: .when(traits: ["GnuTLS"])),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: tests
        // Examples (each has a README in Examples/; Examples/test.sh runs them against real peers).
        .executableTarget(
            name: "example-https-get",
            dependencies: ["TLSKit", "TLSKitIO", "TLSKitOpenSSL"],
            path: "Examples/HTTPSGet",
            exclude: ["README.md"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "example-nio-https-server",
            dependencies: [
                "TLSKit", "TLSKitNIO", "TLSKitOpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            path: "Examples/NIOHTTPSServer",
            exclude: ["README.md"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "example-nio-async-echo",
            dependencies: [
                "TLSKit", "TLSKitNIO", "TLSKitOpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Examples/NIOAsyncEcho",
            exclude: ["README.md"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "example-remote-signer",
            dependencies: [
                "TLSKit", "TLSKitIO", "TLSKitOpenSSL",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            path: "Examples/RemoteSigner",
            exclude: ["README.md"],
            swiftSettings: strictSettings
        ),

        .testTarget(
            name: "TLSKitTests",
            dependencies: ["TLSKit"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "TLSKitConformanceTests",
            dependencies: [
                "TLSKit", "TLSKitOpenSSL", "TLSKitIO", "TLSKitTestSupport", "TLSKitInsecure", "TLSKitX509",
                .target(name: "TLSKitGnuTLS", condition: .when(traits: ["GnuTLS"])),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "TLSKitInteropTests",
            dependencies: [
                "TLSKit", "TLSKitOpenSSL", "TLSKitIO", "TLSKitNIO", "TLSKitTestSupport",
                .target(name: "TLSKitGnuTLS", condition: .when(traits: ["GnuTLS"])),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
