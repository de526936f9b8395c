// swift-tools-version: 6.1
// The TLSKit benchmarks: a separate package so library users never resolve it.
// TLSKit is the enclosing package, named explicitly so that the product references below
// do not depend on the name of the folder the repository was cloned into.
import PackageDescription

let package = Package(
    name: "TLSKitBenchmarks",
    dependencies: [
        .package(name: "TLSKit", path: "..", traits: ["GnuTLS"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        // The incumbent, for the side-by-side server benchmark (side_by_side.py).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .target(name: "CTLSKitBenchShim"),
        .executableTarget(
            name: "TLSKitBench",
            dependencies: [
                "CTLSKitBenchShim",
                .product(name: "TLSKit", package: "TLSKit"),
                .product(name: "TLSKitOpenSSL", package: "TLSKit"),
                .product(name: "TLSKitGnuTLS", package: "TLSKit"),
                .product(name: "TLSKitIO", package: "TLSKit"),
                .product(name: "TLSKitNIO", package: "TLSKit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "TLSKitHTTPBench",
            dependencies: [
                .product(name: "TLSKit", package: "TLSKit"),
                .product(name: "TLSKitOpenSSL", package: "TLSKit"),
                .product(name: "TLSKitGnuTLS", package: "TLSKit"),
                .product(name: "TLSKitNIO", package: "TLSKit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
