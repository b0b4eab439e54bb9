import Foundation
import Hummingbird
public import Logging
public import NIOCore
import ParleyChat
import ParleyCluster
import ParleyCore
import ParleyPostgres
public import ParleyStore
import Prometheus
import ServiceLifecycle
import UnixSignals

/// A complete Parley server: the store, the chat and the HTTP/WebSocket application, run as one
/// service group.
///
/// Shutdown runs in reverse order of start: on SIGINT or SIGTERM the connections are closed
/// first (after everything accepted is committed, with close code 1001), then the HTTP server
/// stops, and the commit pipeline goes last so that nothing accepted is lost.
public struct ParleyServer: Sendable {
    public let configuration: ServerConfiguration
    private let group: ServiceGroup
    /// The server's SQLite store, when it runs on one (tests reach its writer connection).
    public let store: SQLiteMessageStore?
    /// The cluster node, when `databasePath` is a `postgres://` URL.
    private let node: ClusterNode?
    private let logger: Logger

    /// Opens the database (creating and migrating it) and reads the web root.
    ///
    /// - Parameters:
    ///   - handlesSignals: whether SIGTERM and SIGINT start a graceful shutdown (tests run
    ///     several servers in one process and stop each with ``shutDown()``).
    ///   - onRunning: called with the bound port once the server accepts connections.
    ///   - onConnection: called with the channel of every connection the server accepts (HTTP
    ///     and WebSocket alike), on its event loop. For diagnostics: the tests keep weak
    ///     references to check that a closed connection is freed.
    public init(
        configuration: ServerConfiguration,
        logger baseLogger: Logger,
        handlesSignals: Bool = true,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in },
        onConnection: (@Sendable (any Channel) -> Void)? = nil
    ) throws {
        self.configuration = configuration
        // The web root first: a mistyped folder must not leave a new, empty database behind.
        let files = try configuration.webRoot.map { try StaticFiles(root: $0, logger: baseLogger) } ?? StaticFiles()
        let store: any MessageStore
        let databaseName: String
        let logger: Logger
        if PostgresDatabaseURL.isPostgres(configuration.databasePath) {
            let node = try ClusterNode(url: configuration.databasePath, id: configuration.nodeID, logger: baseLogger)
            var nodeLogger = baseLogger
            nodeLogger[metadataKey: "parley.node"] = "\(node.id)"
            logger = nodeLogger
            store = node.store
            databaseName = node.url.description
            self.node = node
            self.store = nil
        } else {
            let sqlite = try SQLiteMessageStore(
                path: configuration.databasePath,
                options: .init(synchronousFull: configuration.synchronousFull, busyTimeout: configuration.busyTimeout)
            )
            store = sqlite
            databaseName = URL(fileURLWithPath: configuration.databasePath).standardizedFileURL.path
            self.node = nil
            self.store = sqlite
            logger = baseLogger
        }
        self.logger = logger
        // A registry per server: several servers in one process (the tests) keep their own counts.
        let registry = PrometheusCollectorRegistry()
        let chat = ChatService(
            store: store,
            configuration: configuration.chat,
            metrics: ChatMetrics(factory: PrometheusMetricsFactory(registry: registry)),
            logger: logger,
            committed: node?.committed,
            directory: node?.sessionDirectory
        )
        let host = configuration.host
        let application = buildApplication(
            configuration,
            chat: chat,
            files: files,
            metrics: registry,
            databaseStatus: node?.status,
            logger: logger,
            onConnection: onConnection
        ) { port in
            let shownHost = host.contains(":") ? "[\(host)]" : host
            // What the operator needs to see that this is the server they meant to start.
            let holds =
                if let rooms = try? await store.rooms() {
                    "\(rooms.count) rooms, \(rooms.reduce(0) { $0 + $1.messageCount }) messages"
                } else {
                    "unknown"
                }
            logger.info(
                "Parley is running: open http://\(shownHost):\(port)/",
                metadata: [
                    "parley.database": "\(databaseName)",
                    "parley.holds": "\(holds)",
                    "parley.page": "\(files.origin)",
                ]
            )
            await onRunning(port)
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: (node?.services(for: chat.hub, sessionGrace: configuration.chat.sessionGrace, logger: logger)
                ?? [])
                + [
                    chat.commitService, chat.catchUpService, chat.joinTimeoutService, chat.outsideWritesService,
                    application, chat.drainService,
                ],
            gracefulShutdownSignals: handlesSignals ? [.sigterm, .sigint] : [],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownTimeout
        self.group = ServiceGroup(configuration: groupConfiguration)
    }

    /// Runs until graceful shutdown (a signal, or ``shutDown()``) has finished.
    ///
    /// Throws ``ListenError`` when the address cannot be listened on.
    public func run() async throws {
        do {
            try await node?.prepare(logger: logger)
            try await group.run()
        } catch let error as IOError
            where error.errnoCode == EADDRINUSE || error.errnoCode == EACCES
            || error.errnoCode == EADDRNOTAVAIL
        {
            throw ListenError(host: configuration.host, port: configuration.port, errno: error.errnoCode)
        }
    }

    /// Starts the same orderly shutdown a SIGTERM starts.
    public func shutDown() async {
        await group.triggerGracefulShutdown()
    }
}

/// The server could not listen on its address: said in plain words, with what to do.
public struct ListenError: Error, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let errno: Int32

    public var description: String {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        switch errno {
        case EADDRINUSE:
            return "cannot listen on \(address): the port is already in use (another parley, or another server?); "
                + "pick another with --port, or --port 0 for any free one"
        case EACCES:
            return "cannot listen on \(address): permission denied (ports below 1024 need privileges); "
                + "use a port above 1024 behind a reverse proxy (docs/DEPLOY.md)"
        default:
            return "cannot listen on \(address): no network interface has this address; check --host"
        }
    }
}
