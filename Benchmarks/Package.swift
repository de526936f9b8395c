// swift-tools-version: 6.1
// The TLSKit benchmarks: a separate package so library users never resolve it.
import PackageDescription

let package = Package(
    name: "TLSKitBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: "..", traits: ["GnuTLS"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
    ],
    targets: [
        .target(name: "CTLSKitBenchShim"),
        .executableTarget(
            name: "TLSKitBench",
            dependencies: [
                "CTLSKitBenchShim",
                .product(name: "TLSKit", package: "main"),
                .product(name: "TLSKitOpenSSL", package: "main"),
                .product(name: "TLSKitGnuTLS", package: "main"),
                .product(name: "TLSKitIO", package: "main"),
                .product(name: "TLSKitNIO", package: "main"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
