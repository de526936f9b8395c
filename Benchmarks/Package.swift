// swift-tools-version: 6.1
// The TLSKit benchmarks: a separate package so library users never resolve it.
import PackageDescription

let package = Package(
    name: "TLSKitBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "..", traits: ["GnuTLS"])],
    targets: [
        .target(name: "CTLSKitBenchShim"),
        .executableTarget(
            name: "TLSKitBench",
            dependencies: [
                "CTLSKitBenchShim",
                .product(name: "TLSKit", package: "main"),
                .product(name: "TLSKitOpenSSL", package: "main"),
                .product(name: "TLSKitGnuTLS", package: "main"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
