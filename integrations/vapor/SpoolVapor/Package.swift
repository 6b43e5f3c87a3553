// swift-tools-version:6.1
// The Vapor integration of Spool: a package of its own, so that Spool's users who do not use
// Vapor never compile it. It lives in integrations/vapor/SpoolVapor rather than
// integrations/vapor because SwiftPM names a root package after its folder, and a package
// named `vapor` cannot depend on vapor/vapor.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "SpoolVapor",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SpoolVapor", targets: ["SpoolVapor"]),
        // The dashboard and HTTP API mounted in a Vapor app: adds SpoolServer (Hummingbird's
        // router) to the build, so it is a product of its own.
        .library(name: "SpoolVaporDashboard", targets: ["SpoolVaporDashboard"]),
        .executable(name: "SpoolVaporExample", targets: ["SpoolVaporExample"]),
    ],
    dependencies: [
        .package(name: "Spool", path: "../../.."),
        .package(url: "https://github.com/vapor/vapor.git", from: "4.115.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-service-context.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        // Tests: HTTP requests to the app, and the example app as a child process.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2", traits: []),
        // Tests: spans of a request and of the enqueue it makes (InMemoryTracing).
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.1.0"),
    ],
    targets: [
        .target(
            name: "SpoolVapor",
            dependencies: [
                .product(name: "Spool", package: "Spool"),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceContextModule", package: "swift-service-context"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SpoolVaporDashboard",
            dependencies: [
                "SpoolVapor",
                .product(name: "Spool", package: "Spool"),
                .product(name: "SpoolServer", package: "Spool"),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // An application of its own (configure.swift, routes, jobs): `swift run SpoolVaporExample`
        // serves, `swift run SpoolVaporExample spool work` runs workers. The tests run it.
        .executableTarget(
            name: "SpoolVaporExample",
            dependencies: [
                "SpoolVapor", "SpoolVaporDashboard",
                .product(name: "Spool", package: "Spool"),
                .product(name: "SpoolSQLite", package: "Spool"),
                .product(name: "Vapor", package: "vapor"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SpoolVaporTests",
            dependencies: [
                "SpoolVapor", "SpoolVaporDashboard",
                .product(name: "Spool", package: "Spool"),
                .product(name: "SpoolSQLite", package: "Spool"),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "VaporTesting", package: "vapor"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
