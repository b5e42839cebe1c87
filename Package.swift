// swift-tools-version:6.0
//
// Swiftlet: an HTTP/2 server for Linux. See docs/architecture.md for how the
// targets fit together.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Swiftlet",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SwiftletLoop", targets: ["SwiftletLoop"]),
        .library(name: "SwiftletHPACK", targets: ["SwiftletHPACK"]),
        .library(name: "SwiftletHTTP", targets: ["SwiftletHTTP"]),
        .library(name: "SwiftletHTTP2", targets: ["SwiftletHTTP2"]),
        .library(name: "SwiftletHTTP1", targets: ["SwiftletHTTP1"]),
        .library(name: "SwiftletTLS", targets: ["SwiftletTLS"]),
        .library(name: "SwiftletStatic", targets: ["SwiftletStatic"]),
        .library(name: "SwiftletServer", targets: ["SwiftletServer"]),
        .library(name: "SwiftletWebSocket", targets: ["SwiftletWebSocket"]),
        // gRPC (grpc-swift 2) on Swiftlet; the other libraries do not depend on it.
        .library(name: "SwiftletGRPC", targets: ["SwiftletGRPC"]),
        .executable(name: "swiftlet", targets: ["swiftlet"]),
        .executable(name: "swiftlet-websocket-echo", targets: ["swiftlet-websocket-echo"]),
        .executable(name: "swiftlet-grpc-echo", targets: ["swiftlet-grpc-echo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // liburing, OpenSSL and Linux headers, plus tiny C wrappers.
        .target(
            name: "CSwiftletSystem",
            linkerSettings: [
                .linkedLibrary("uring"),
                .linkedLibrary("ssl"),
                .linkedLibrary("crypto"),
            ]
        ),
        // zstd, brotli and gzip through their C libraries, for the static-file
        // handler's compression on the fly.
        .target(
            name: "CSwiftletCompression",
            linkerSettings: [
                .linkedLibrary("zstd"),
                .linkedLibrary("brotlienc"),
                .linkedLibrary("brotlidec"),
                .linkedLibrary("z"),
            ]
        ),
        // The event loop: io_uring and epoll backends, timers, listeners,
        // connections, receive rings, send queues, cross-thread tasks.
        .target(
            name: "SwiftletLoop",
            dependencies: [
                "CSwiftletSystem",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // HPACK (RFC 7541): tables, Huffman codec, decoder, encoder.
        .target(name: "SwiftletHPACK", swiftSettings: strict),
        // What handlers see, whatever the protocol: fields, request head,
        // the handler and exchange protocols.
        .target(
            name: "SwiftletHTTP",
            dependencies: [.product(name: "HTTPTypes", package: "swift-http-types")],
            swiftSettings: strict
        ),
        // HTTP/2 (RFC 9113): framing, state machines, flow control, limits.
        .target(
            name: "SwiftletHTTP2",
            dependencies: ["SwiftletLoop", "SwiftletHPACK", "SwiftletHTTP",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // HTTP/1.1 (RFC 9112) for clients without HTTP/2.
        .target(
            name: "SwiftletHTTP1",
            dependencies: ["SwiftletLoop", "SwiftletHTTP", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // TLS through OpenSSL: contexts, SNI, ALPN, tickets, sessions as a
        // connection transport.
        .target(
            name: "SwiftletTLS",
            dependencies: ["SwiftletLoop", "CSwiftletSystem"],
            swiftSettings: strict
        ),
        // WebSockets (RFC 6455): frames, masking, reassembly, UTF-8 and close
        // rules, the opening handshake's accept value, without I/O; and the
        // handler that serves them on exchanges (callback and async).
        .target(
            name: "SwiftletWebSocket",
            dependencies: ["CSwiftletSystem", "SwiftletHTTP", "SwiftletLoop",
                           .product(name: "HTTPTypes", package: "swift-http-types")],
            swiftSettings: strict
        ),
        // The static-file handler.
        .target(
            name: "SwiftletStatic",
            dependencies: ["SwiftletHTTP", "SwiftletLoop", "CSwiftletSystem", "CSwiftletCompression"],
            swiftSettings: strict
        ),
        // What an embedding application uses: configuration, loops, protocol
        // selection, graceful shutdown, access log.
        .target(
            name: "SwiftletServer",
            dependencies: ["SwiftletLoop", "SwiftletHTTP", "SwiftletHTTP1", "SwiftletHTTP2", "SwiftletTLS", "CSwiftletSystem",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "HTTPTypes", package: "swift-http-types"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strict
        ),
        // The static-site server.
        .executableTarget(
            name: "swiftlet",
            dependencies: ["SwiftletServer", "SwiftletStatic", "SwiftletLoop", "SwiftletHTTP2", "SwiftletHTTP", "SwiftletTLS", "CSwiftletSystem",
                           .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strict
        ),
        // The async API's example (docs/embedding.md): a JSON API, uploads,
        // streaming, run in a ServiceGroup.
        .executableTarget(
            name: "swiftlet-async-example",
            dependencies: ["SwiftletServer", "SwiftletLoop",
                           .product(name: "HTTPTypes", package: "swift-http-types"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            path: "examples/async",
            swiftSettings: strict
        ),
        // WebSockets over HTTP/1.1 and HTTP/2: files plus an echo at /echo, with
        // either handler API (docs/embedding.md).
        .executableTarget(
            name: "swiftlet-websocket-echo",
            dependencies: ["SwiftletServer", "SwiftletStatic", "SwiftletWebSocket", "SwiftletHTTP", "SwiftletLoop", "SwiftletTLS",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "examples/websocket-echo",
            swiftSettings: strict
        ),
        // grpc-swift 2's ServerTransport on Swiftlet's loops (h2c and TLS).
        .target(
            name: "SwiftletGRPC",
            dependencies: ["SwiftletServer", "SwiftletHTTP", "SwiftletLoop",
                           .product(name: "GRPCCore", package: "grpc-swift-2"),
                           .product(name: "HTTPTypes", package: "swift-http-types"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // grpc-swift's echo.Echo service on SwiftletGRPC (its protobuf code is
        // generated and committed: examples/grpc-echo/Generated).
        .executableTarget(
            name: "swiftlet-grpc-echo",
            dependencies: ["SwiftletGRPC", "SwiftletServer", "SwiftletTLS", "SwiftletLoop",
                           .product(name: "GRPCCore", package: "grpc-swift-2"),
                           .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                           .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "examples/grpc-echo",
            exclude: ["echo.proto"],
            swiftSettings: strict
        ),
        // The embedding guide's example (docs/embedding.md), built so it stays true.
        .executableTarget(
            name: "swiftlet-embedding-example",
            dependencies: ["SwiftletServer", "SwiftletHTTP", "SwiftletLoop"],
            path: "examples/embedding",
            swiftSettings: strict
        ),

        // MARK: tools (benchmarks and load generators; not shipped)

        // Counts malloc/calloc/realloc/free calls of the process it is linked
        // into, for the allocation figures of the benchmarks.
        .target(name: "CAllocationCounter", path: "tools/CAllocationCounter"),
        .executableTarget(
            name: "swiftlet-echo-bench",
            dependencies: [
                "SwiftletLoop", "CAllocationCounter", "CSwiftletSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "tools/echo-bench",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "swiftlet-async-bench",
            dependencies: ["SwiftletServer", "SwiftletHTTP", "SwiftletLoop",
                           .product(name: "HTTPTypes", package: "swift-http-types")],
            path: "tools/async-bench",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "swiftlet-microbench",
            dependencies: ["SwiftletLoop", "SwiftletHPACK", "SwiftletHTTP", "SwiftletHTTP2", "CAllocationCounter",
                           .product(name: "Logging", package: "swift-log")],
            path: "tools/microbench",
            swiftSettings: strict
        ),

        // Fuzz targets (libFuzzer under `make fuzz`; corpus replayers otherwise).
        .target(name: "CLibFuzzer", path: "tools/fuzz/CLibFuzzer"),
        .executableTarget(
            name: "swiftlet-fuzz-frames",
            dependencies: ["SwiftletHTTP2", "SwiftletHTTP", "SwiftletLoop", "CLibFuzzer",
                           .product(name: "Logging", package: "swift-log")],
            path: "tools/fuzz/frames",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "swiftlet-fuzz-hpack",
            dependencies: ["SwiftletHPACK", "CLibFuzzer"],
            path: "tools/fuzz/hpack",
            swiftSettings: strict
        ),

        // MARK: tests

        // Harness shared by the test targets: a loop on its own thread, a
        // blocking client, payload patterns.
        .target(
            name: "SwiftletTestSupport",
            dependencies: ["SwiftletLoop", "CSwiftletSystem"],
            path: "Tests/SwiftletTestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "SwiftletLoopTests",
            dependencies: [
                "SwiftletLoop", "CSwiftletSystem", "SwiftletTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SwiftletHTTP2Tests",
            dependencies: ["SwiftletHTTP2", "SwiftletHTTP1", "SwiftletHTTP", "SwiftletHPACK", "SwiftletLoop", "SwiftletTestSupport",
                           .product(name: "HTTPTypes", package: "swift-http-types")],
            swiftSettings: strict
        ),
        // A TLS client over memory BIOs and certificate generation, in C.
        .target(
            name: "CTLSTestSupport",
            path: "Tests/CTLSTestSupport",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        .testTarget(
            name: "SwiftletTLSTests",
            dependencies: ["SwiftletTLS", "SwiftletLoop", "CTLSTestSupport", "CSwiftletSystem"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SwiftletHTTPTests",
            dependencies: ["SwiftletHTTP", .product(name: "HTTPTypes", package: "swift-http-types")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SwiftletServerTests",
            dependencies: ["SwiftletServer", "SwiftletHTTP2", "SwiftletLoop",
                           .product(name: "HTTPTypes", package: "swift-http-types"),
                           .product(name: "MetricsTestKit", package: "swift-metrics"),
                           .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SwiftletHPACKTests",
            dependencies: ["SwiftletHPACK"],
            exclude: ["hpack_crosscheck.py"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SwiftletStaticTests",
            dependencies: ["SwiftletStatic"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SwiftletGRPCTests",
            dependencies: ["SwiftletGRPC", .product(name: "GRPCCore", package: "grpc-swift-2"),
                           .product(name: "HTTPTypes", package: "swift-http-types")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SwiftletWebSocketTests",
            dependencies: ["SwiftletWebSocket", "SwiftletHTTP"],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
