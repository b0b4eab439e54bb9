import Logging
import NIOCore
import ParleyChat
import ParleyCore
import ParleyPostgres
import PostgresNIO
import ServiceLifecycle

/// Brings the messages other nodes commit to this node's members.
///
/// Two paths, both ending in ``ChatHub/roomReached(_:lastID:)``, after which the hub reads
/// what its members miss from the store:
/// - **the doorbell**: a dedicated connection LISTENs for ``RoomNotification``s. After every
///   (re)connect it LISTENs first and then polls, the order PostgreSQL's documentation gives, so
///   nothing committed in between is missed. A `SELECT 1` with a timeout every few seconds
///   finds a connection that died silently (a killed backend, a half-open socket), and it is
///   replaced.
/// - **the safety poll**: every ``pollInterval`` the newest ids of the rooms with members here
///   are read through the pool. It covers a node that died between its commit and its ring, a
///   PostgreSQL restart (which drops queued notifications), and a listener that is down.
struct ClusterFeed: Service {
    static let pollInterval: Duration = .seconds(1)
    static let probeInterval: Duration = .seconds(2)
    static let probeTimeout: Duration = .seconds(3)

    let node: String
    let url: PostgresDatabaseURL
    let store: any MessageStore
    let hub: ChatHub
    /// Told which rooms' members changed on other nodes.
    let sessions: ClusterSessions
    let status: DatabaseStatus
    let logger: Logger

    func run() async {
        await withDiscardingTaskGroup { tasks in
            tasks.addTask { await cancelWhenGracefulShutdown { await listen() } }
            tasks.addTask {
                await cancelWhenGracefulShutdown {
                    while !Task.isCancelled {
                        await poll()
                        try? await Task.sleep(for: Self.pollInterval)
                    }
                }
            }
        }
    }

    /// Compares the newest ids of the rooms with members here with what the hub knows.
    func poll() async {
        let watched = await hub.watchedRooms()
        do {
            let lastIDs = try await store.lastIDs(of: Array(watched.keys))
            await status.reachable(true)
            for (room, lastID) in lastIDs { await hub.roomReached(room, lastID: lastID) }
        } catch {
            if await status.reachable(false) {
                logger.error("PostgreSQL is unreachable; this node retries every second: \(error)")
            }
        }
    }

    private func listen() async {
        var backoff: Duration = .milliseconds(250)
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: try url.connectionConfiguration(applicationName: "parley \(node) listener"),
                    id: 0,
                    logger: logger
                )
                backoff = .milliseconds(250)
                let outcome = await Result { try await self.listen(on: connection) }
                await Self.close(connection)
                try outcome.get()
            } catch {
                if Task.isCancelled { return }
                logger.warning("The PostgreSQL listening connection failed; reconnecting: \(error)")
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    /// LISTENs on `connection` and probes it until it fails or the task is cancelled.
    private func listen(on connection: PostgresConnection) async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                try await connection.listen(on: RoomNotification.channel) { notifications in
                    await poll()
                    for try await notification in notifications {
                        guard let rung = RoomNotification(payload: notification.payload), rung.node != node
                        else { continue }
                        for (room, lastID) in rung.rooms { await hub.roomReached(room, lastID: lastID) }
                        if !rung.presence.isEmpty { sessions.refresh(rung.presence) }
                        for key in rung.moved { await hub.sessionMoved(nickKey: key) }
                    }
                }
            }
            tasks.addTask {
                while true {
                    try await Task.sleep(for: Self.probeInterval)
                    try await probe(connection)
                }
            }
            defer { tasks.cancelAll() }
            do {
                try await tasks.next()
            } catch {
                // Ends the LISTEN loop too, which may be waiting on a dead socket.
                await Self.close(connection)
                throw error
            }
        }
    }

    /// Closes `connection`, even from a cancelled task (the async `close()` gives up when its
    /// task is cancelled, and a connection must be closed before it is freed).
    private static func close(_ connection: PostgresConnection) async {
        let closing: EventLoopFuture<Void> = connection.close()
        try? await closing.get()
    }

    /// `SELECT 1` on the listening connection, failing after ``probeTimeout``.
    private func probe(_ connection: PostgresConnection) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask {
                try await connection.query("SELECT 1", logger: logger)
                return true
            }
            tasks.addTask {
                try await Task.sleep(for: Self.probeTimeout)
                return false
            }
            defer { tasks.cancelAll() }
            guard try await tasks.next() == true else {
                // A query on a half-open socket waits forever; closing fails it.
                await Self.close(connection)
                throw ProbeTimedOut()
            }
        }
    }

    private struct ProbeTimedOut: Error, CustomStringConvertible {
        var description: String { "the listening connection did not answer SELECT 1 in time" }
    }
}

/// Whether this node reached PostgreSQL on its last try, for `/healthz`.
public actor DatabaseStatus {
    public private(set) var isReachable = true

    public init() {}

    /// Records the outcome of a try; returns whether it changed.
    @discardableResult
    func reachable(_ reachable: Bool) -> Bool {
        defer { isReachable = reachable }
        return isReachable != reachable
    }
}
