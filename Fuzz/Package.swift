// swift-tools-version:6.0
// libFuzzer targets for every decoder of untrusted bytes. Build and run them all with `./run.sh SECONDS`.
import PackageDescription

let package = Package(
    name: "sos-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "sos-package"),  // a symlink to the repository root, so the identity does not depend on the clone's folder name
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(name: "FuzzRecordDecoder", dependencies: [.product(name: "LogStore", package: "sos-package")]),
        .executableTarget(name: "FuzzSegmentRecovery", dependencies: [.product(name: "LogStore", package: "sos-package")]),
        .executableTarget(name: "FuzzWALAndSnapshot", dependencies: [.product(name: "Brain", package: "sos-package")]),
        .executableTarget(name: "FuzzS3Requests", dependencies: [.product(name: "Brain", package: "sos-package")]),
        .executableTarget(name: "FuzzAuthentication", dependencies: [.product(name: "Brain", package: "sos-package")]),
        .executableTarget(
            name: "FuzzClusterFrames",
            dependencies: [
                .product(name: "ClusterProtocol", package: "sos-package"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]),
    ]
)
