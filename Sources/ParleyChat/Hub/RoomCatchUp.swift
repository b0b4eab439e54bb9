import Logging
import ParleyCore
import ServiceLifecycle

/// Reads from the store the messages that members of a room miss, and hands them to the hub in
/// id order.
///
/// On one node the hub gets every message from the commit pipeline, in order, so this rarely
/// runs (a join whose history read saw commits the hub had not delivered yet). In a cluster it
/// is how messages committed by other nodes arrive: a notification or a poll says a room
/// reached id N, and what lies between is read here. One run per room at a time; each read
/// starts after the oldest `lastSentID` of the members that are behind, so every member gets
/// exactly the messages after its own, without a gap.
struct RoomCatchUp: Service {
    /// Messages read per query.
    static let pageSize = 500

    let requests: AsyncStream<RoomName>
    let store: any MessageStore
    let hub: ChatHub
    let logger: Logger

    func run() async {
        await withDiscardingTaskGroup { runs in
            for await room in requests.cancelOnGracefulShutdown() {
                runs.addTask { await catchUp(room) }
            }
        }
    }

    private func catchUp(_ room: RoomName) async {
        while let start = await hub.catchUpStart(room) {
            do {
                let slice = try await store.history(of: room, .after(id: start, limit: Self.pageSize))
                await hub.deliverCaughtUp(room, after: start, slice)
            } catch {
                // The next notification, commit or poll asks again.
                logger.warning("Reading \(room.value) to catch its members up failed: \(error)")
                await hub.catchUpFailed(room)
                return
            }
        }
    }
}
