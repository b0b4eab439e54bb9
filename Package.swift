// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "parley",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "parley", targets: ["parley"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // Chat domain: validated names, the message model and the store protocol. No I/O.
        .target(
            name: "ParleyCore",
            swiftSettings: swiftSettings
        ),
        // The SQLite message store (GRDB) and its migrations, embedded at build time.
        .target(
            name: "ParleyStore",
            dependencies: [
                "ParleyCore",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["EmbedMigrations"]
        ),
        // The PostgreSQL message store (postgres-nio), for several nodes on one database, and its
        // migrations (Migrations/postgres/), embedded at build time.
        .target(
            name: "ParleyPostgres",
            dependencies: [
                "ParleyCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["EmbedMigrations"]
        ),
        // Wire protocol v1 and the command router, rooms and fan-out. Knows nothing of HTTP.
        .target(
            name: "ParleyChat",
            dependencies: [
                "ParleyCore",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Cluster mode: several nodes on one PostgreSQL database, told of each other's commits
        // by a LISTEN/NOTIFY doorbell (and a safety poll) and reading the rows themselves.
        .target(
            name: "ParleyCluster",
            dependencies: [
                "ParleyChat",
                "ParleyCore",
                "ParleyPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP side and the WebSocket transport (Hummingbird), wired into one service group.
        .target(
            name: "ParleyServer",
            dependencies: [
                "ParleyChat",
                "ParleyCluster",
                "ParleyStore",
                "ParleyPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["EmbedWebRoot"]
        ),
        // The admin commands' pieces: time expressions, output formats, tables for terminals.
        .target(
            name: "ParleyAdmin",
            dependencies: ["ParleyCore"],
            swiftSettings: swiftSettings
        ),
        // `parley bench`: a load generator that speaks protocol v1 to any Parley server.
        .target(
            name: "ParleyBench",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The `parley` command line.
        .executableTarget(
            name: "parley",
            dependencies: [
                "ParleyAdmin",
                "ParleyBench",
                "ParleyChat",
                "ParleyServer",
                "ParleyStore",
                "ParleyPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Build tool: turns files (Migrations/*.sql, web/) into Swift literals in the binary.
        .executableTarget(
            name: "FileEmbedder",
            path: "Plugins/FileEmbedder",
            swiftSettings: swiftSettings
        ),
        .plugin(
            name: "EmbedMigrations",
            capability: .buildTool(),
            dependencies: ["FileEmbedder"]
        ),
        .plugin(
            name: "EmbedWebRoot",
            capability: .buildTool(),
            dependencies: ["FileEmbedder"]
        ),
        // Test helpers shared by the test targets: a throwaway PostgreSQL server.
        .target(
            name: "ParleyTestSupport",
            dependencies: [
                "ParleyPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/ParleyTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParleyChatTests",
            dependencies: [
                "ParleyCore", "ParleyChat", "ParleyStore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParleyAdminTests",
            dependencies: ["ParleyAdmin", "ParleyStore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParleyStoreTests",
            dependencies: [
                "ParleyStore",
                "ParleyPostgres",
                "ParleyTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParleyServerTests",
            dependencies: [
                "ParleyAdmin",
                "ParleyBench",
                "ParleyChat",
                "ParleyServer",
                "ParleyStore",
                "ParleyTestSupport",
                "parley",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
