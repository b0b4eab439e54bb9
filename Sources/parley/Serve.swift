import ArgumentParser
import Foundation
import Logging
import ParleyPostgres
import ParleyServer

/// `parley serve`: runs the chat server until SIGINT or SIGTERM.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the chat server.",
        discussion: """
            Serves the chat page, the JSON API and the WebSocket endpoint /ws on one port, and \
            stores every message in a SQLite database (created on first start).

            SIGINT or SIGTERM shut down gracefully: everything accepted is committed, clients get \
            close code 1001, and the exit code is 0.

            Examples:
              parley serve
              parley serve --port 0 --db /var/lib/parley/chat.sqlite
              PARLEY_HOST=0.0.0.0 PARLEY_PORT=9000 parley serve
            """
    )

    @OptionGroup(title: "Server")
    var server: ServerOptions

    @Option(help: "Seconds a graceful shutdown may take before connections still open are dropped. (default: 10)")
    var shutdownTimeout: Double?

    @Flag(help: "Serve /echo, a WebSocket that echoes every message, for conformance tests (Autobahn).")
    var echoEndpoint = false

    @Flag(
        name: .customLong("no-websocket"),
        help: "Refuse chat WebSockets: clients use the HTTP transport (/events), as where WebSocket is blocked."
    )
    var noWebSocket = false

    @OptionGroup(title: "Limits")
    var limits: LimitOptions

    func run() async throws {
        let environment = EnvironmentFallback()
        let configuration = try resolve(environment)
        let level = try server.resolveLogLevel(environment)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "parley")
        let isPostgres = PostgresDatabaseURL.isPostgres(configuration.databasePath)
        let databaseExisted = isPostgres || FileManager.default.fileExists(atPath: configuration.databasePath)
        do {
            let server = try ParleyServer(configuration: configuration, logger: logger)
            try await server.run()
        } catch {
            // A server that never started leaves no new, empty database behind.
            if error is ListenError && !databaseExisted {
                for suffix in ["", "-wal", "-shm"] {
                    try? FileManager.default.removeItem(atPath: configuration.databasePath + suffix)
                }
            }
            logger.critical("Parley cannot run: \(error)")
            throw ExitCode.failure
        }
        logger.info("Parley stopped")
    }

    private func resolve(_ environment: EnvironmentFallback) throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        try server.apply(to: &configuration, environment: environment)
        limits.apply(to: &configuration)
        configuration.echoEndpoint = echoEndpoint
        configuration.webSocketEnabled = !noWebSocket
        if let shutdownTimeout {
            guard shutdownTimeout > 0 else { throw ValidationError("--shutdown-timeout must be more than 0") }
            configuration.shutdownTimeout = .milliseconds(Int64(shutdownTimeout * 1000))
        }
        return configuration
    }
}

/// Where `parley serve` listens, what it stores and serves, and how much it logs: the options
/// most people set, listed first in `--help`.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on. (env: PARLEY_HOST; default: 127.0.0.1)")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one. (env: PARLEY_PORT; default: 8080)")
    var port: Int?

    @Option(
        help:
            "SQLite database file, created on first start, or postgres://USER[:PASS]@HOST[:PORT]/DBNAME: several nodes on one PostgreSQL database serve one chat (see docs/CLUSTER.md). (env: PARLEY_DB; default: ./parley.sqlite)"
    )
    var db: String?

    @Option(
        help:
            "With a postgres:// database, this node's name in logs and metrics. (env: PARLEY_NODE_ID; default: random)"
    )
    var nodeID: String?

    @Option(
        help:
            "Serve the chat page from this folder instead of the copy built into the binary, to work on the page. (env: PARLEY_WEB_ROOT)"
    )
    var webRoot: String?

    @Option(help: "Messages replayed when a client joins a room. (env: PARLEY_HISTORY; default: 50)")
    var history: Int?

    @Option(help: "trace, debug, info, notice, warning, error or critical. (env: PARLEY_LOG_LEVEL; default: info)")
    var logLevel: String?

    func apply(to configuration: inout ServerConfiguration, environment: EnvironmentFallback) throws {
        configuration.host = host ?? environment.string("PARLEY_HOST") ?? configuration.host
        configuration.port = try port ?? environment.integer("PARLEY_PORT") ?? configuration.port
        configuration.databasePath = db ?? environment.string("PARLEY_DB") ?? configuration.databasePath
        configuration.nodeID = nodeID ?? environment.string("PARLEY_NODE_ID")
        configuration.webRoot = webRoot ?? environment.string("PARLEY_WEB_ROOT")
        configuration.chat.historyOnJoin =
            try history ?? environment.integer("PARLEY_HISTORY") ?? configuration.chat.historyOnJoin
        if let nodeID = configuration.nodeID {
            guard !nodeID.isEmpty, nodeID.count <= 64, !nodeID.contains(where: \.isNewline) else {
                throw ValidationError("--node-id must be 1 to 64 characters on one line")
            }
        }
        guard (0...65535).contains(configuration.port) else {
            throw ValidationError("--port must be between 0 and 65535")
        }
        guard (0...1000).contains(configuration.chat.historyOnJoin) else {
            throw ValidationError("--history must be between 0 and 1000")
        }
    }

    func resolveLogLevel(_ environment: EnvironmentFallback) throws -> Logger.Level {
        let raw = logLevel ?? environment.string("PARLEY_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: raw.lowercased()) else {
            throw ValidationError("unknown log level \"\(raw)\"")
        }
        return level
    }
}
