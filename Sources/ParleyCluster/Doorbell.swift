import Logging
import ParleyCore
import PostgresNIO
import ServiceLifecycle

/// Tells the other nodes, after each commit, which rooms reached which ids (and, after the
/// directory changed them, which rooms' members changed and which sessions moved here).
///
/// The NOTIFY is sent after the commit, on its own (autocommit) statement: inside the message
/// transaction it would take PostgreSQL's database-wide notify lock at every commit. Rings that
/// arrive while one NOTIFY is in flight are folded into the next, so a busy node sends one
/// notification per round trip, not one per commit. A lost ring costs latency, not messages: the
/// other nodes' safety poll finds the rooms anyway.
final class Doorbell: Service, Sendable {
    let node: String
    private let client: PostgresClient
    private let logger: Logger
    private let rings: AsyncStream<RoomNotification>
    private let ringer: AsyncStream<RoomNotification>.Continuation

    init(node: String, client: PostgresClient, logger: Logger) {
        self.node = node
        self.client = client
        self.logger = logger
        (rings, ringer) = AsyncStream.makeStream(of: RoomNotification.self)
    }

    /// Queues a ring for the rooms of a commit; never waits.
    func ring(_ rooms: [RoomName: Int64]) {
        ringer.yield(RoomNotification(node: node, rooms: rooms))
    }

    /// Queues a ring for rooms whose members changed; never waits.
    func ringPresence(_ rooms: Set<RoomName>) {
        ringer.yield(RoomNotification(node: node, presence: rooms))
    }

    /// Queues a ring saying the session of the nick with `key` moved to this node; never waits.
    func ringMoved(nickKey key: String) {
        ringer.yield(RoomNotification(node: node, moved: [key]))
    }

    func run() async {
        let queue = RingQueue(node: node)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { tasks in
                tasks.addTask {
                    for await ring in self.rings { await queue.add(ring) }
                    await queue.finish()
                }
                tasks.addTask {
                    var failing = false
                    while let ring = await queue.take() {
                        do {
                            for payload in ring.payloads() {
                                try await self.client.query(
                                    "SELECT pg_notify(\(RoomNotification.channel), \(payload))",
                                    logger: self.logger
                                )
                            }
                            failing = false
                        } catch {
                            if !failing {
                                self.logger.warning(
                                    "Cannot notify the other nodes (their poll will find the messages): \(error)"
                                )
                            }
                            failing = true
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            // The pipeline has committed what it accepted: ring for it, then stop.
            self.ringer.finish()
        }
    }
}

/// The rings not yet sent, folded into one.
private actor RingQueue {
    private var pending: RoomNotification
    private var waiter: CheckedContinuation<RoomNotification?, Never>?
    private var finished = false

    init(node: String) {
        pending = RoomNotification(node: node)
    }

    func add(_ ring: RoomNotification) {
        pending.merge(ring)
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: takePending())
        }
    }

    func finish() {
        finished = true
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: pending.isEmpty ? nil : takePending())
        }
    }

    /// The next ring to send, waiting for one; `nil` once finished and sent.
    func take() async -> RoomNotification? {
        if !pending.isEmpty { return takePending() }
        if finished { return nil }
        return await withCheckedContinuation { waiter = $0 }
    }

    private func takePending() -> RoomNotification {
        defer { pending = RoomNotification(node: pending.node) }
        return pending
    }
}
