public import Logging
public import ParleyChat
public import ParleyCore
public import ParleyPostgres
public import PostgresNIO
public import ServiceLifecycle

/// One Parley node on a PostgreSQL database: the connection pool, the message store on it, and
/// the services that tell this node's members about messages other nodes commit.
///
/// Any number of nodes may serve one database; PostgreSQL is the single source of truth, and
/// a notification between nodes is only a doorbell (see ``ClusterFeed``).
public struct ClusterNode: Sendable {
    public let url: PostgresDatabaseURL
    /// Names the node in logs, metrics and notifications.
    public let id: String
    public let client: PostgresClient
    /// The PostgreSQL store, its operations bounded by ``operationTimeout``.
    public let store: any MessageStore
    /// Whether the last poll reached the database.
    public let status = DatabaseStatus()
    private let doorbell: Doorbell
    private let sessions: ClusterSessions

    /// - Parameter id: the node's name; a random one when `nil`.
    public init(url text: String, id: String?, logger: Logger) throws(ClusterError) {
        do {
            url = try PostgresDatabaseURL(text)
        } catch {
            throw ClusterError(description: error.description)
        }
        self.id = id ?? Self.randomID()
        client = PostgresClient(
            configuration: url.clientConfiguration(applicationName: "parley \(self.id)"),
            backgroundLogger: logger
        )
        store = DeadlineStore(
            base: PostgresMessageStore(client: client, logger: logger),
            timeout: Self.operationTimeout
        )
        doorbell = Doorbell(node: self.id, client: client, logger: logger)
        sessions = ClusterSessions()
    }

    /// Where the chat keeps sessions, nicks and members, so that every node sees them.
    public var sessionDirectory: any SessionDirectory { sessions }

    /// How long a store operation may wait for PostgreSQL before the command that needed it is
    /// answered `unavailable`.
    public static let operationTimeout: Duration = .seconds(5)

    /// Connects once (so an unreachable database is reported within seconds, not after the
    /// pool's retries), applies the migrations this database lacks and registers the node.
    public func prepare(logger: Logger) async throws(ClusterError) {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                configuration: try url.connectionConfiguration(),
                id: 0,
                logger: logger
            )
        } catch {
            throw ClusterError(description: "cannot use the PostgreSQL database \(url): \(Self.explain(error))")
        }
        var failure: ClusterError?
        do {
            try await PostgresMigrations.migrate(connection, logger: logger)
            try await NodeLease.register(id, on: connection, logger: logger)
        } catch let error as ClusterError {
            failure = error
        } catch let error as PostgresStoreError {
            failure = ClusterError(description: error.description)
        } catch {
            failure = ClusterError(description: "cannot migrate the PostgreSQL database \(url): \(Self.explain(error))")
        }
        try? await connection.close()
        if let failure { throw failure }
    }

    /// What to hand the chat so that each commit rings the other nodes.
    public var committed: @Sendable ([RoomName: Int64]) -> Void {
        { [doorbell] rooms in doorbell.ring(rooms) }
    }

    /// The services to run, in this order, before the chat's: the pool, the node's lease, the
    /// doorbell, the session directory, and the feed that listens and polls for `hub`.
    /// - Parameter sessionGrace: how long sessions of a node that stopped stay resumable.
    public func services(for hub: ChatHub, sessionGrace: Duration, logger: Logger) -> [any Service] {
        [
            client,
            NodeLease(node: id, client: client, hub: hub, sessionGrace: sessionGrace, logger: logger),
            doorbell,
            ClusterDirectoryWorker(
                node: id,
                sessions: sessions,
                client: client,
                hub: hub,
                doorbell: doorbell,
                logger: logger
            ),
            ClusterFeed(
                node: id,
                url: url,
                store: store,
                hub: hub,
                sessions: sessions,
                status: status,
                logger: logger
            ),
        ]
    }

    static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt32
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// PostgreSQL's own message when there is one, else the driver's.
    static func explain(_ error: any Error) -> String {
        PostgresStoreError.reason(error)
    }
}

/// Why a node cannot serve its PostgreSQL database, in a sentence for the operator.
public struct ClusterError: Error, CustomStringConvertible {
    public let description: String
}
