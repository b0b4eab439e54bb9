import Logging
import ParleyCore
import ServiceLifecycle

/// Reads from the store the messages that members of a room miss, and hands them to the hub in
/// id order.
///
/// On one node the hub gets every message from the commit pipeline, in order, so this rarely
/// runs (a join whose history read saw commits the hub had not delivered yet). In a cluster it
/// is how messages committed by other nodes arrive: a notification or a poll says a room
/// reached id N, and what lies between is read here. Each read starts, per room, after the
/// oldest `lastSentID` of the members that are behind, so every member gets exactly the messages
/// after its own, without a gap.
///
/// One read at a time, for every room waiting: rooms that ask while a read is in flight are
/// read together next time, so a busy cluster node makes a few reads per round trip, not one
/// per room and notification.
struct RoomCatchUp: Service {
    /// Messages read per room and query.
    static let pageSize = 500

    /// Each element says that some room asked; the rooms themselves wait in the hub.
    let requests: AsyncStream<Void>
    let store: any MessageStore
    let hub: ChatHub
    let logger: Logger

    func run() async {
        for await _ in requests.cancelOnGracefulShutdown() {
            while case let starts = await hub.catchUpStarts(), !starts.isEmpty {
                do {
                    let slices = try await store.histories(after: starts, limit: Self.pageSize)
                    await hub.deliverCaughtUp(slices, after: starts)
                } catch {
                    // The next notification, commit or poll asks again.
                    logger.warning("Reading \(starts.count) rooms to catch their members up failed: \(error)")
                    await hub.catchUpFailed(Array(starts.keys))
                    break
                }
            }
        }
    }
}
