import Foundation
import GRDB
import ParleyCore
import ParleyStore
import Testing

@Suite struct StoreTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    var path: String { directory.appendingPathComponent("chat.sqlite").path }

    func drafts(_ room: String, _ texts: String...) -> [MessageDraft] {
        texts.map { MessageDraft(room: RoomName(room)!, nick: "n", text: $0, createdAt: 1000) }
    }

    @Test func migratorKnowsExactlyTheSQLFilesInMigrations() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".sql") }.map { String($0.dropLast(4)) }.sorted()
        #expect(!files.isEmpty)
        #expect(ParleyMigrations.identifiers == files)
        #expect(ParleyMigrations.migrator.migrations == files)
    }

    @Test func migratingTwiceIsANoOpAndKeepsData() async throws {
        let store = try SQLiteMessageStore(path: path)
        _ = try await store.append(drafts("keep", "one", "two"))
        let reopened = try SQLiteMessageStore(path: path)
        let applied = try await reopened.pool.read { db in try ParleyMigrations.migrator.appliedIdentifiers(db) }
        #expect(applied == Set(ParleyMigrations.identifiers))
        let count = try await reopened.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM grdb_migrations")
        }
        #expect(count == ParleyMigrations.identifiers.count)
        #expect(
            try await reopened.history(of: RoomName("keep")!, .latest(limit: 10)).messages.map(\.text) == [
                "one", "two",
            ]
        )
    }

    @Test func writerRunsWithSynchronousFull() throws {
        #expect(try SQLiteMessageStore(path: path).writerSynchronousLevel() == 2)
        let relaxed = directory.appendingPathComponent("relaxed.sqlite").path
        #expect(
            try SQLiteMessageStore(path: relaxed, options: .init(synchronousFull: false)).writerSynchronousLevel() == 1
        )
        let mode = try SQLiteMessageStore(path: path).pool.read { db in
            try String.fetchOne(db, sql: "PRAGMA journal_mode")
        }
        #expect(mode == "wal")
    }

    @Test func idsAreNeverReusedAfterOldMessagesAreDeleted() async throws {
        let store = try SQLiteMessageStore(path: path)
        _ = try await store.append(drafts("p", "1", "2", "3"))
        try await store.pool.write { db in try db.execute(sql: "DELETE FROM messages") }
        #expect(try await store.append(drafts("p", "4")).map(\.message.id) == [4])
    }

    @Test func readOnlyStoreRefusesAMissingFile() throws {
        #expect(throws: StoreError.missingDatabase(path: path)) {
            try SQLiteMessageStore(path: path, options: .init(readOnly: true))
        }
    }

    @Test func aDatabaseFromANewerParleyIsRefused() throws {
        _ = try SQLiteMessageStore(path: path)
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999_from_the_future')")
        }
        #expect(throws: StoreError.newerSchema(path: path)) { try SQLiteMessageStore(path: path) }
    }

    @Test func aReadOnlyOpenOfAnOlderSchemaAsksForAnUpgradeAndAWritingOpenDoesIt() throws {
        let queue = try DatabaseQueue(path: path)
        try ParleyMigrations.migrator.migrate(queue, upTo: ParleyMigrations.identifiers[0])
        try queue.close()
        #expect(throws: StoreError.olderSchema(path: path)) {
            try SQLiteMessageStore(path: path, options: .init(readOnly: true))
        }
        _ = try SQLiteMessageStore(path: path)
        _ = try SQLiteMessageStore(path: path, options: .init(readOnly: true))
    }
}
