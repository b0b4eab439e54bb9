import Foundation
import NIOCore
import ParleyCore
import ParleyStore
import Testing

@testable import ParleyChat

/// The rooms' recent messages kept in memory answer exactly what the store would, and only
/// what they hold completely.
@Suite struct RecentMessagesTests {
    let store: SQLiteMessageStore
    let directory: URL
    let room = RoomName("kept")!

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-recent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try SQLiteMessageStore(path: directory.appendingPathComponent("chat.sqlite").path)
    }

    /// A hub with one member in the room, which then commits `count` messages through it.
    func hubWithMessages(_ count: Int, perRoom: Int = 101) async throws -> (ChatHub, Peer) {
        let hub = ChatHub(recentMessagesPerRoom: perRoom)
        let member = try await join(hub, room)
        try await commit(count, in: room, through: hub, by: member)
        return (hub, member)
    }

    /// A new connection that joined `room`, its history read from the store.
    func join(_ hub: ChatHub, _ room: RoomName, as nick: String = "writer") async throws -> Peer {
        let (outbox, drain) = Outbox.make(maxQueuedBytes: 1 << 30)
        let member = Peer(id: try #require(await hub.connect(outbox: outbox)), drain: drain)
        _ = try await hub.beginJoin(member.id, room: room, nick: Nick(nick))
        let page = HistoryPage.latest(limit: 50)
        let fromMemory = await hub.completeJoinFromMemory(member.id, room: room, page: page, ref: nil)
        guard case .readTheStore(let generation) = fromMemory else { throw Failure("a new room was in memory") }
        let history = try await store.history(of: room, page)
        await hub.completeJoin(member.id, room: room, history: history, page: page, generation: generation, ref: nil)
        return member
    }

    /// Stores `count` messages in `room` and hands them to the hub, as the commit pipeline does.
    func commit(_ count: Int, in room: RoomName, through hub: ChatHub, by member: Peer) async throws {
        for start in stride(from: 1, through: count, by: 50) {
            let drafts = (start...min(count, start + 49)).map {
                MessageDraft(room: room, nick: "writer", text: "message \($0)", createdAt: Int64($0))
            }
            let results = try await store.append(drafts)
            await hub.deliver(results.map { ($0, AckTarget(connection: member.id, ref: nil)) })
        }
    }

    @Test func pastTheByteBudgetTheColdestRoomForgetsFirstAndAnEmptyRoomKeepsNothing() async throws {
        let hub = ChatHub(maxRecentBytes: 4_000)  // about 23 messages of this size
        let (cold, hot) = (RoomName("cold")!, RoomName("hot")!)
        let coldMember = try await join(hub, cold)
        let hotMember = try await join(hub, hot, as: "other")
        try await commit(20, in: cold, through: hub, by: coldMember)
        try await commit(30, in: hot, through: hub, by: hotMember)
        #expect(await hub.recentHistory(of: cold, .latest(limit: 5), ref: nil) == nil)
        #expect(await hub.recentHistory(of: hot, .latest(limit: 5), ref: nil) != nil)
        let kept = await hub.recentMessagesBytes
        #expect(kept > 0 && kept <= 4_000)
        try await hub.leave(hotMember.id, room: hot, ref: nil)
        try await hub.leave(coldMember.id, room: cold, ref: nil)
        #expect(await hub.recentMessagesBytes == 0)
    }

    @Test func everyPageFromMemoryIsThePageTheStoreReads() async throws {
        // 300 messages, 101 kept: ids 200...300, so the kept range is (199, 300].
        let (hub, _) = try await hubWithMessages(300)
        let fromMemory: [HistoryPage] = [
            .latest(limit: 1), .latest(limit: 50), .latest(limit: 100),
            .after(id: 199, limit: 1000), .after(id: 250, limit: 10), .after(id: 299, limit: 5),
            .after(id: 300, limit: 5), .after(id: 900, limit: 5),
            .before(id: 301, limit: 50), .before(id: 260, limit: 59), .before(id: 1000, limit: 3),
        ]
        let fromStore: [HistoryPage] = [
            .latest(limit: 101), .latest(limit: 200), .after(id: 198, limit: 5), .after(id: 0, limit: 1000),
            .before(id: 260, limit: 60), .before(id: 150, limit: 10),
        ]
        for page in fromMemory {
            let memory = try #require(await hub.recentHistory(of: room, page, ref: "r"), "\(page)")
            let stored = ServerEvent.history(room: room, slice: try await store.history(of: room, page), ref: "r")
            #expect(String(buffer: memory) == String(buffer: stored), "\(page)")
        }
        for page in fromStore {
            #expect(await hub.recentHistory(of: room, page, ref: nil) == nil, "\(page)")
        }
    }

    @Test func aRoomThatStartedInMemoryAnswersEveryPage() async throws {
        let (hub, _) = try await hubWithMessages(40)
        for page: HistoryPage in [.latest(limit: 50), .after(id: 0, limit: 1000), .before(id: 10, limit: 50)] {
            let memory = try #require(await hub.recentHistory(of: room, page, ref: nil), "\(page)")
            let stored = ServerEvent.history(room: room, slice: try await store.history(of: room, page), ref: nil)
            #expect(String(buffer: memory) == String(buffer: stored), "\(page)")
        }
    }

    @Test func messagesTheHubHasNotSeenAreReadFromTheStore() async throws {
        let (hub, _) = try await hubWithMessages(10)
        // Another node commits message 11; the hub hears of it before reading it.
        _ = try await store.append([MessageDraft(room: room, nick: "elsewhere", text: "eleven", createdAt: 11)])
        await hub.roomReached(room, lastID: 11)
        #expect(await hub.recentHistory(of: room, .latest(limit: 5), ref: nil) == nil)
        // The catch-up read brings it, and memory answers again.
        await hub.deliverCaughtUp(room, after: 10, try await store.history(of: room, .after(id: 10, limit: 500)))
        let memory = try #require(await hub.recentHistory(of: room, .latest(limit: 5), ref: nil))
        let stored = ServerEvent.history(
            room: room,
            slice: try await store.history(of: room, .latest(limit: 5)),
            ref: nil
        )
        #expect(String(buffer: memory) == String(buffer: stored))
        // What another program wrote is not known: after it, nothing is answered from memory.
        await hub.forgetRecentMessages()
        #expect(await hub.recentHistory(of: room, .latest(limit: 5), ref: nil) == nil)
    }

    @Test func keptRangesAreTrimmedMergedAndReplaced() async throws {
        let frame = ByteBuffer(repeating: UInt8(ascii: "x"), count: 1000 - RecentMessages.overheadPerEntry)
        var recent = RecentMessages()
        recent.add((1...10).map { (id: Int64($0), frame: frame) }, after: 0, through: 10)
        #expect(recent.bytes == 10_000)
        recent.trim(toCount: 8)
        #expect(recent.count == 8 && recent.covered?.after == 2)
        recent.trim(toCount: 8, bytes: 5_000)
        #expect(recent.count == 5 && recent.covered?.after == 5 && recent.covered?.through == 10)
        // A range apart and older adds nothing; a newer one replaces what is kept.
        recent.add([(id: Int64(3), frame: frame)], after: 2, through: 3)
        #expect(recent.count == 5 && recent.covered?.after == 5)
        recent.add([(id: Int64(20), frame: frame)], after: 19, through: 20)
        #expect(recent.count == 1 && recent.covered?.after == 19)
        // An overlapping range is merged, each id once.
        recent.add((18...21).map { (id: Int64($0), frame: frame) }, after: 17, through: 21)
        #expect(recent.count == 4 && recent.covered?.after == 17 && recent.covered?.through == 21)
    }
}
