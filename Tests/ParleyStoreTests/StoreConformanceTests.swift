import Foundation
import Logging
import ParleyCore
import ParleyPostgres
import ParleyStore
import ParleyTestSupport
import PostgresNIO
import Testing

/// The promises of ``MessageStore``, checked the same way against each store: SQLite (a file in
/// a temporary folder) and PostgreSQL (a throwaway server). Two store instances on one database
/// stand for two nodes.
// Serialized: each case starts a PostgreSQL server, and several at once load a small CI machine
// enough to make the timing-sensitive server tests running alongside miss their deadlines.
@Suite(.serialized) struct StoreConformanceTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    /// Runs `body` with two stores on one fresh database of `backend`.
    static func withStores(
        _ backend: Backend,
        _ body: (any MessageStore, any MessageStore) async throws -> Void
    ) async throws {
        switch backend {
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parley-store-\(UUID())")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let path = folder.appendingPathComponent("parley.sqlite").path
            try await body(try SQLiteMessageStore(path: path), try SQLiteMessageStore(path: path))
        case .postgres:
            try await TestPostgres.with { server in
                let url = try server.createDatabase("parley")
                try await TestPostgres.withClient(url) { first, logger in
                    try await TestPostgres.withClient(url) { second, _ in
                        // Two nodes starting together: the advisory lock lets one migrate.
                        async let one = PostgresMigrations.migrate(first, logger: logger)
                        async let two = PostgresMigrations.migrate(second, logger: logger)
                        let applied = try await [one, two]
                        #expect(applied.map(\.count).sorted() == [0, PostgresMigrations.identifiers.count])
                        try await body(
                            PostgresMessageStore(client: first, logger: logger),
                            PostgresMessageStore(client: second, logger: logger)
                        )
                    }
                }
            }
        }
    }

    static func drafts(
        _ room: String,
        _ texts: String...,
        mid: String? = nil,
        at time: Int64 = 1000
    )
        -> [MessageDraft]
    {
        texts.map { MessageDraft(room: RoomName(room)!, nick: "n", text: $0, createdAt: time, mid: mid) }
    }

    @Test(arguments: Backend.allCases)
    func idsAreConsecutivePerRoomAcrossBatchesAndNodes(_ backend: Backend) async throws {
        try await Self.withStores(backend) { store, other in
            let first = try await store.append(
                Self.drafts("a", "a1") + Self.drafts("b", "b1") + Self.drafts("a", "a2", "a3") + Self.drafts("b", "b2")
            )
            #expect(first.map(\.message.id) == [1, 1, 2, 3, 2])
            #expect(first.map(\.message.room.value) == ["a", "b", "a", "a", "b"])
            #expect(first.map(\.isNew) == Array(repeating: true, count: 5))
            let second = try await other.append(Self.drafts("a", "a4") + Self.drafts("c", "c1", at: 2000))
            #expect(second.map(\.message.id) == [4, 1])
            #expect(
                try await store.rooms() == [
                    StoredRoom(name: RoomName("a")!, messageCount: 4, lastID: 4, lastMessageAt: 1000),
                    StoredRoom(name: RoomName("b")!, messageCount: 2, lastID: 2, lastMessageAt: 1000),
                    StoredRoom(name: RoomName("c")!, messageCount: 1, lastID: 1, lastMessageAt: 2000),
                ]
            )
            // What a cluster node polls: rooms that never stored a message are left out.
            let polled = try await store.lastIDs(of: [RoomName("a")!, RoomName("c")!, RoomName("never")!])
            #expect(polled == [RoomName("a")!: 4, RoomName("c")!: 1])
            #expect(try await other.lastIDs(of: []) == [:])
        }
    }

    /// Two nodes writing to one room at once: every id from 1 to N exactly once, each node's
    /// messages in the order it sent them.
    @Test(arguments: Backend.allCases)
    func concurrentWritersLeaveNoGapAndNoDuplicate(_ backend: Backend) async throws {
        try await Self.withStores(backend) { store, other in
            async let fromFirst: [[AppendResult]] = (1...40).asyncMap { index in
                try await store.append(Self.drafts("busy", "first \(index)", "first \(index) bis"))
            }
            async let fromSecond: [[AppendResult]] = (1...40).asyncMap { index in
                try await other.append(Self.drafts("busy", "second \(index)"))
            }
            let (one, two) = try await (fromFirst, fromSecond)
            let ids = (one.flatMap { $0 } + two.flatMap { $0 }).map(\.message.id).sorted()
            #expect(ids == Array(1...120))
            let firstIDs = one.flatMap { $0 }.map(\.message.id)
            #expect(firstIDs == firstIDs.sorted())
            let history = try await store.history(of: RoomName("busy")!, .latest(limit: 200))
            #expect(history.messages.map(\.id) == Array(1...120))
            #expect(history.roomLastID == 120)
        }
    }

    /// A `mid` retried (on the same node or another) is stored once and answered with the first id.
    @Test(arguments: Backend.allCases)
    func aRetriedMidIsStoredOnce(_ backend: Backend) async throws {
        try await Self.withStores(backend) { store, other in
            let first = try await store.append(Self.drafts("r", "hello", mid: "m-1"))
            let retried = try await other.append(Self.drafts("r", "hello", mid: "m-1") + Self.drafts("r", "next"))
            #expect(first.map(\.message.id) == [1])
            #expect(retried.map(\.message.id) == [1, 2])
            #expect(retried.map(\.isNew) == [false, true])
            #expect(retried[0].message.mid == "m-1")
            // The same mid twice in one batch, and in another room: separate rooms, separate ids.
            let twice = try await store.append(Self.drafts("r", "x", mid: "m-2") + Self.drafts("r", "x", mid: "m-2"))
            #expect(twice.map(\.message.id) == [3, 3])
            #expect(try await store.append(Self.drafts("elsewhere", "hello", mid: "m-1")).map(\.isNew) == [true])
            #expect(try await store.history(of: RoomName("r")!, .latest(limit: 10)).messages.count == 3)
        }
    }

    @Test(arguments: Backend.allCases)
    func historyPagesAndTheRoomsNewestID(_ backend: Backend) async throws {
        try await Self.withStores(backend) { store, _ in
            _ = try await store.append(Self.drafts("h", "1", "2", "3", "4", "5") + Self.drafts("other", "x"))
            let room = RoomName("h")!
            func ids(_ page: HistoryPage) async throws -> ([Int64], Bool) {
                let slice = try await store.history(of: room, page)
                return (slice.messages.map(\.id), slice.truncated)
            }
            #expect(try await ids(.latest(limit: 2)) == ([4, 5], true))
            #expect(try await ids(.latest(limit: 5)) == ([1, 2, 3, 4, 5], false))
            #expect(try await ids(.before(id: 4, limit: 2)) == ([2, 3], true))
            #expect(try await ids(.before(id: 3, limit: 2)) == ([1, 2], false))
            #expect(try await ids(.after(id: 1, limit: 3)) == ([2, 3, 4], true))
            #expect(try await ids(.after(id: 2, limit: 3)) == ([3, 4, 5], false))
            #expect(try await ids(.after(id: 5, limit: 3)) == ([], false))
            #expect(try await store.history(of: room, .after(id: 9, limit: 3)).roomLastID == 5)
            let message = try #require(try await store.history(of: room, .latest(limit: 1)).messages.first)
            #expect(message == ChatMessage(room: room, id: 5, nick: "n", text: "5", createdAt: 1000))
            let nowhere = try await store.history(of: RoomName("nowhere")!, .latest(limit: 5))
            #expect(nowhere.messages.isEmpty)
            #expect(nowhere.roomLastID == 0)
        }
    }

    /// What a cluster node reads to catch up several rooms at once: each room's `.after` page.
    @Test(arguments: Backend.allCases)
    func severalRoomsAreReadAfterTheirOwnIDs(_ backend: Backend) async throws {
        try await Self.withStores(backend) { store, _ in
            _ = try await store.append(Self.drafts("h", "1", "2", "3", "4", "5") + Self.drafts("other", "x", "y"))
            let (h, other, nowhere) = (RoomName("h")!, RoomName("other")!, RoomName("nowhere")!)
            let slices = try await store.histories(after: [h: 1, other: 2, nowhere: 0], limit: 3)
            #expect(slices[h]?.messages.map(\.id) == [2, 3, 4])
            #expect(slices[h]?.truncated == true)
            #expect(slices[h]?.roomLastID == 5)
            #expect(slices[other]?.messages.isEmpty == true)
            #expect(slices[other]?.truncated == false)
            #expect(slices[other]?.roomLastID == 2)
            #expect(slices[nowhere]?.messages.isEmpty == true)
            #expect(slices[nowhere]?.roomLastID == 0)
            let first = try #require(slices[h]?.messages.first)
            #expect(first == ChatMessage(room: h, id: 2, nick: "n", text: "2", createdAt: 1000))
            #expect(try await store.histories(after: [:], limit: 3).isEmpty)
        }
    }

    /// The query rules of `parley history --grep`, the same on both stores.
    @Test(arguments: Backend.allCases)
    func searchFollowsTheGrepRules(_ backend: Backend) async throws {
        try await Self.withStores(backend) { store, _ in
            _ = try await store.append(
                Self.drafts(
                    "trips",
                    "Lisbon in May",
                    "the train to Porto",
                    "lisbon again?",
                    "nothing here",
                    "Porto wine and Lisbon",
                    "don't forget the C++ book",
                    "Helsinki or Helsingborg"
                ) + Self.drafts("other", "Lisbon elsewhere")
            )
            func found(_ text: String, limit: Int = 20, before: Int64? = nil) async throws -> [Int64] {
                let query = try #require(SearchQuery(text))
                return try await store.search(
                    in: RoomName("trips")!,
                    SearchPage(query: query, before: before, limit: limit)
                ).messages.map(\.id)
            }
            #expect(try await found("lisbon") == [1, 3, 5])
            #expect(try await found("LISBON porto") == [5])
            #expect(try await found("\"train to\"") == [2])
            #expect(try await found("\"to train\"") == [])
            #expect(try await found("hel*") == [7])
            #expect(try await found("lisbon OR train") == [1, 2, 3, 5])
            #expect(try await found("lisbon NOT porto") == [1, 3])
            #expect(try await found("porto OR lisbon NOT wine") == [1, 2, 3, 5])  // porto OR (lisbon NOT wine)
            #expect(try await found("don't") == [6])
            #expect(try await found("C++") == [6])
            #expect(try await found("again?") == [3])
            #expect(try await found("lisbon", limit: 2) == [3, 5])
            #expect(try await found("lisbon", limit: 2, before: 3) == [1])
            let page = try await store.search(
                in: RoomName("trips")!,
                SearchPage(query: SearchQuery("lisbon")!, limit: 2)
            )
            #expect(page.truncated)
            #expect(page.roomLastID == 7)
        }
    }
}

extension ClosedRange where Bound == Int {
    /// Runs `body` for each element in turn, awaiting each before the next.
    func asyncMap<T>(_ body: (Int) async throws -> T) async throws -> [T] {
        var results: [T] = []
        for element in self { results.append(try await body(element)) }
        return results
    }
}

/// The PostgreSQL migrations embedded in the binary are exactly the files of Migrations/postgres.
@Test func thePostgresMigrationsAreExactlyTheFilesOfTheirFolder() throws {
    let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Migrations/postgres")
    let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        .filter { $0.hasSuffix(".sql") }.map { String($0.dropLast(4)) }.sorted()
    #expect(!files.isEmpty)
    #expect(PostgresMigrations.identifiers == files)
}
