// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Spool",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Spool", targets: ["Spool"]),
        .library(name: "SpoolSQLite", targets: ["SpoolSQLite"]),
        .library(name: "SpoolPostgres", targets: ["SpoolPostgres"]),
        .library(name: "SpoolRedis", targets: ["SpoolRedis"]),
        .library(name: "SpoolServer", targets: ["SpoolServer"]),
        .library(name: "SpoolHummingbird", targets: ["SpoolHummingbird"]),
        .library(name: "SpoolWebhooks", targets: ["SpoolWebhooks"]),
        .library(name: "SpoolTesting", targets: ["SpoolTesting"]),
        .executable(name: "spool", targets: ["SpoolCLI"]),
        .executable(name: "spool-example-embedding", targets: ["EmbeddingExampleMain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Child processes in the CLI (bench W6) and the tests. No traits: the default
        // SubprocessFoundation only adds Foundation conveniences (Data input and output) we do not use.
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2", traits: []),
        // Spans around enqueues and runs (TracingMiddleware); InMemoryTracing for the tests.
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // OTLP trace export from `spool serve` and `spool work` (the CLI only); OTLP/HTTP, not gRPC.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        // `swift package generate-documentation` (the Spool catalog); a plugin, no target depends on it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "Spool",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SpoolSQLite",
            dependencies: [
                "Spool",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for binding and reading the hot statements without boxing.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SpoolPostgres",
            dependencies: [
                "Spool",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SpoolRedis",
            dependencies: [
                "Spool",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SpoolServer",
            dependencies: [
                "Spool",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Spool in a Hummingbird app: the client in the request context, the server mountable.
        .target(
            name: "SpoolHummingbird",
            dependencies: ["Spool", "SpoolServer", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SpoolWebhooks",
            dependencies: [
                "Spool",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SpoolTesting",
            dependencies: [
                "Spool", .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SpoolCLI",
            dependencies: [
                "Spool",
                "SpoolSQLite",
                "SpoolPostgres",
                "SpoolRedis",
                "SpoolServer",
                "SpoolWebhooks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
            ],
            swiftSettings: swiftSettings
        ),
        // examples/embedding: a Hummingbird app of its own that embeds Spool (built and tested here).
        .target(
            name: "EmbeddingExample",
            dependencies: [
                "Spool", "SpoolHummingbird", "SpoolServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "examples/embedding/Sources/EmbeddingExample",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "EmbeddingExampleMain",
            dependencies: ["EmbeddingExample", .product(name: "Logging", package: "swift-log")],
            path: "examples/embedding/Sources/EmbeddingExampleMain",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EmbeddingExampleTests",
            dependencies: [
                "EmbeddingExample", "Spool", "SpoolTesting", "SpoolServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolTests",
            dependencies: [
                "Spool", "SpoolTesting",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolSQLiteTests",
            dependencies: ["Spool", "SpoolSQLite", "SpoolTesting", .product(name: "Subprocess", package: "swift-subprocess")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolPostgresTests",
            dependencies: ["Spool", "SpoolPostgres", "SpoolTesting", .product(name: "Subprocess", package: "swift-subprocess")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolRedisTests",
            dependencies: [
                "Spool", "SpoolRedis", "SpoolTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolServerTests",
            dependencies: [
                "Spool", "SpoolServer", "SpoolTesting",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolCLITests",
            dependencies: [
                "Spool", "SpoolTesting", "SpoolSQLite", "SpoolPostgres", "SpoolRedis",
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolWebhooksTests",
            dependencies: [
                "Spool", "SpoolWebhooks", "SpoolTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolTestingTests",
            dependencies: ["Spool", "SpoolTesting"],
            swiftSettings: swiftSettings
        ),
    ]
)
