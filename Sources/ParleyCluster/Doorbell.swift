import Logging
import ParleyCore
import PostgresNIO
import ServiceLifecycle

/// Tells the other nodes, after each commit, which rooms reached which ids.
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
    private let rings: AsyncStream<[RoomName: Int64]>
    private let ringer: AsyncStream<[RoomName: Int64]>.Continuation

    init(node: String, client: PostgresClient, logger: Logger) {
        self.node = node
        self.client = client
        self.logger = logger
        (rings, ringer) = AsyncStream.makeStream(of: [RoomName: Int64].self)
    }

    /// Queues a ring for the rooms of a commit; never waits.
    func ring(_ rooms: [RoomName: Int64]) {
        ringer.yield(rooms)
    }

    func run() async {
        let queue = RingQueue()
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { tasks in
                tasks.addTask {
                    for await rooms in self.rings { await queue.add(rooms) }
                    await queue.finish()
                }
                tasks.addTask {
                    var failing = false
                    while let rooms = await queue.take() {
                        do {
                            for payload in RoomNotification.payloads(node: self.node, rooms: rooms) {
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

/// The rooms rung for and not yet sent, folded by room.
private actor RingQueue {
    private var pending: [RoomName: Int64] = [:]
    private var waiter: CheckedContinuation<[RoomName: Int64]?, Never>?
    private var finished = false

    func add(_ rooms: [RoomName: Int64]) {
        pending.merge(rooms, uniquingKeysWith: max)
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

    /// The next rooms to ring for, waiting for some; `nil` once finished and sent.
    func take() async -> [RoomName: Int64]? {
        if !pending.isEmpty { return takePending() }
        if finished { return nil }
        return await withCheckedContinuation { waiter = $0 }
    }

    private func takePending() -> [RoomName: Int64] {
        defer { pending = [:] }
        return pending
    }
}
