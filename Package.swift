// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "sos",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sos", targets: ["sos"]),
        // Libraries so that the fuzz package (Fuzz/) can link the decoders under test.
        .library(name: "LogStore", targets: ["LogStore"]),
        .library(name: "ClusterProtocol", targets: ["ClusterProtocol"]),
        .library(name: "Brain", targets: ["Brain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // libxml2 directly, not FoundationXML's XMLParser: the latter leaks a string per parse error
        // on Linux, and every malformed request body is one.
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        // preadv2(RWF_NOWAIT): reads served from the page cache on the caller's thread.
        .systemLibrary(name: "CLinuxIO"),
        .target(
            name: "LogStore",
            dependencies: ["CLZ4", "CXXHash", "CLinuxIO", .product(name: "CoreMetrics", package: "swift-metrics")]),
        // The HTTP endpoints an operator's tools poll: Prometheus `/metrics` and `/health/*`.
        .target(
            name: "Telemetry",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ClusterProtocol",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "Agent",
            dependencies: [
                "LogStore", "ClusterProtocol",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Brain",
            dependencies: [
                "LogStore", "ClusterProtocol", "CZlib", "CLibXML2", "Telemetry",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The `sos bench` S3 load generator: HTTP/1.1 client, SigV4 signer, workloads, statistics.
        .target(
            name: "S3Bench",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "sos",
            dependencies: [
                "Brain", "Agent", "ClusterProtocol", "S3Bench", "Telemetry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "LogStoreTests", dependencies: ["LogStore"]),
        .testTarget(
            name: "ClusterProtocolTests",
            dependencies: ["ClusterProtocol", .product(name: "NIOEmbedded", package: "swift-nio")]),
        .testTarget(name: "AgentTests", dependencies: ["Agent", .product(name: "NIOEmbedded", package: "swift-nio")]),
        .testTarget(name: "BrainTests", dependencies: ["Brain", .product(name: "NIOEmbedded", package: "swift-nio")]),
        .testTarget(name: "S3BenchTests", dependencies: ["S3Bench"]),
    ]
)
