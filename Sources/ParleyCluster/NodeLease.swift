import Logging
import ParleyChat
import PostgresNIO
import ServiceLifecycle

/// This node's row in `nodes`: registered at start, renewed every ``renewInterval`` on the
/// database's clock, deleted at shutdown. The sessions (rows of `nicks`) a node serves name it.
///
/// Each renewal also deletes the nodes whose lease ran out (`DELETE … RETURNING`, so exactly
/// one node reports each). Their sessions stay for the grace period, so that their clients can
/// resume on another node; then any node deletes them (again exactly once), their members leave
/// their rooms, and every node tells its members. A node that finds its own row gone stalled
/// past its lease (a SIGSTOP, a frozen VM): other nodes may have taken its sessions over, so it
/// closes every connection (1012, reconnect) and registers again.
///
/// A node judges the others only after its own lease has held, renewal after renewal, for a
/// whole lease: when the database was down or unreachable, no node could renew, and the first
/// one back must not take the others, which stalled no more than it did, for dead. A node that
/// died is therefore noticed after its lease ran out and a live node has held its own for a lease.
struct NodeLease: Service {
    /// How long a node that stops renewing keeps its row.
    static let duration: Duration = .seconds(10)
    static let renewInterval: Duration = .seconds(2)

    let node: String
    let client: PostgresClient
    let hub: ChatHub
    /// How long the sessions of a node that stopped stay resumable.
    let sessionGrace: Duration
    let logger: Logger

    /// Registers `node` on `connection`; throws when a live node already has its name.
    static func register(_ node: String, on connection: PostgresConnection, logger: Logger) async throws(ClusterError) {
        do {
            try await connection.query("DELETE FROM nodes WHERE expires_at < now()", logger: logger)
            let rows = try await connection.query(
                """
                INSERT INTO nodes (id, expires_at) VALUES (\(node), now() + \(seconds) * interval '1 second')
                ON CONFLICT (id) DO NOTHING RETURNING id
                """,
                logger: logger
            )
            var registered = false
            for try await _ in rows.decode(String.self) { registered = true }
            guard registered else {
                throw ClusterError(
                    description: "a node named \(node) is already running on this database; "
                        + "give each node its own --node-id (a node that died frees its name within \(duration))"
                )
            }
        } catch let error as ClusterError {
            throw error
        } catch {
            throw ClusterError(description: "cannot register the node: \(ClusterNode.explain(error))")
        }
    }

    private static var seconds: Int { Int(duration.components.seconds) }

    /// What a renewal found of this node's own lease.
    enum Renewal {
        /// Renewed before it ran out.
        case held
        /// Renewed after it had run out, before another node deleted it.
        case lapsed
        /// Another node deleted it: this node stalled, and registered again.
        case lost
        /// The database did not answer.
        case failed
    }

    func run() async {
        await cancelWhenGracefulShutdown {
            // Since when every renewal found the lease held: from then on, a lapsed lease of
            // another node means that node stopped, not that the database did.
            var heldSince: ContinuousClock.Instant?
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.renewInterval)
                if Task.isCancelled { break }
                let judging = heldSince.map { ContinuousClock.now - $0 >= Self.duration } ?? false
                switch await renew(judgingOthers: judging) {
                case .held: heldSince = heldSince ?? .now
                case .lapsed, .lost, .failed: heldSince = nil
                }
            }
        }
        // The chat has closed its connections: their sessions stay resumable on the other
        // nodes for the grace period (or end now without one), not for a whole lease.
        let grace = Self.milliseconds(sessionGrace)
        _ = await ClusterDeadline.run(ClusterNode.operationTimeout) { [client, node, logger] in
            try await client.query("DELETE FROM nodes WHERE id = \(node)", logger: logger)
            if grace > 0 {
                try await client.query(
                    """
                    UPDATE nicks SET node = NULL, expires_at = now() + \(grace) * interval '1 millisecond'
                    WHERE node = \(node)
                    """,
                    logger: logger
                )
            } else {
                try await client.query("DELETE FROM nicks WHERE node = \(node)", logger: logger)
            }
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    private func renew(judgingOthers: Bool) async -> Renewal {
        let grace = Self.milliseconds(sessionGrace)
        let outcome = await ClusterDeadline.run(ClusterNode.operationTimeout) { [client, node, logger] in
            var renewed: Bool?  // whether the lease still held; nil when the row is gone
            for try await held in try await client.query(
                """
                WITH previous AS (SELECT expires_at FROM nodes WHERE id = \(node) FOR UPDATE)
                UPDATE nodes SET expires_at = now() + \(Self.seconds) * interval '1 second'
                FROM previous WHERE nodes.id = \(node)
                RETURNING previous.expires_at >= now()
                """,
                logger: logger
            ).decode(Bool.self) {
                renewed = held
            }
            var expired: [String] = []
            if judgingOthers {
                for try await id in try await client.query(
                    "DELETE FROM nodes WHERE expires_at < now() RETURNING id",
                    logger: logger
                ).decode(String.self) {
                    expired.append(id)
                }
            }
            // Sessions whose node is gone (also one whose sweep above was cut short) keep their
            // nick and rooms for the grace period.
            try await client.query(
                """
                UPDATE nicks SET node = NULL, expires_at = now() + \(grace) * interval '1 millisecond'
                WHERE node IS NOT NULL AND NOT EXISTS (SELECT 1 FROM nodes WHERE nodes.id = nicks.node)
                """,
                logger: logger
            )
            var ended = 0
            for try await _ in try await client.query(
                "DELETE FROM nicks WHERE node IS NULL AND expires_at <= now() RETURNING key",
                logger: logger
            ).decode(String.self) {
                ended += 1
            }
            return (renewed, expired, ended)
        }
        switch outcome {
        case .success(let (renewed, expired, ended)):
            for id in expired {
                logger.notice(
                    "Node \(id) stopped renewing its lease; its sessions can resume on other nodes until their grace ends"
                )
            }
            if ended > 0 {
                logger.notice("\(ended) sessions of stopped nodes were not resumed in time and ended")
            }
            if let held = renewed {
                return held ? .held : .lapsed
            } else {
                logger.error(
                    "This node's lease expired (it stalled); closing its connections and registering again"
                )
                await hub.dropAll(.serviceRestart)
                _ = await ClusterDeadline.run(ClusterNode.operationTimeout) { [client, node, logger] in
                    try await client.query(
                        """
                        INSERT INTO nodes (id, expires_at) VALUES (\(node), now() + \(Self.seconds) * interval '1 second')
                        ON CONFLICT (id) DO NOTHING
                        """,
                        logger: logger
                    )
                }
                return .lost
            }
        case .failure(let error):
            // The feed's poll reports an unreachable database; the lease is renewed when it is back.
            logger.debug("Renewing the node's lease failed: \(error)")
            return .failed
        }
    }
}
