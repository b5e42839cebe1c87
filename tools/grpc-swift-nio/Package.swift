// swift-tools-version:6.1
// grpc-swift's own NIO transport beside Swiftlet's, for the interop test
// (a grpc-swift client over NIO calling swiftlet-grpc-echo) and for the gRPC
// benchmark's peer (the same echo service on grpc-swift's NIO server).
//
// A package of its own so that the main package, and CI's build of it, do not
// build SwiftNIO, swift-nio-ssl and swift-certificates: `make grpc-swift-nio`
// builds it, `make test-grpc-swift` and `make bench-grpc` use it.
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]
let both: [Target.Dependency] = [
    .product(name: "GRPCCore", package: "grpc-swift-2"),
    .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
    .product(name: "SwiftProtobuf", package: "swift-protobuf"),
    .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
    .product(name: "ArgumentParser", package: "swift-argument-parser"),
]

let package = Package(
    name: "grpc-swift-nio",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The server compiles the echo service and its generated code, the
        // client the generated code, from the very files swiftlet-grpc-echo
        // is built from (symbolic links into examples/grpc-echo; the
        // generated code is internal, so a shared library target would not do).
        .executableTarget(
            name: "grpc-nio-echo",
            dependencies: both,
            swiftSettings: strict
        ),
        .executableTarget(
            name: "grpc-swift-echo-client",
            dependencies: both,
            swiftSettings: strict
        ),
    ]
)
