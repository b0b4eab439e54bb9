import Foundation
import GRDB
import ParleyCore
import ParleyStore
import Testing

/// The search index is written once per commit (migration 0004), not by a trigger per row: these
/// tests hold it to the same promise the trigger kept, that every stored message is searchable
/// and nothing else is, whatever writes, deletes or edits the table.
@Suite struct SearchIndexTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-fts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    var path: String { directory.appendingPathComponent("chat.sqlite").path }

    /// Each message's text is a word of its own (`w17`), so a search for it must find that message
    /// and no other; FTS5's `integrity-check` compares the index with the table as well.
    func expectIndexMatchesTable(_ pool: DatabasePool, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
            let rows = try Row.fetchAll(db, sql: "SELECT seq, text FROM messages")
            for row in rows {
                let text: String = row[1]
                let found = try Int64.fetchAll(
                    db,
                    sql: "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?",
                    arguments: ["\"\(text)\""]
                )
                #expect(found == [row[0]], "search for \(text)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func storedMessagesAreSearchableAndDeletedOrEditedOnesFollow() async throws {
        let store = try SQLiteMessageStore(path: path)
        let room = RoomName("general")!
        var word = 0
        func drafts(_ count: Int) -> [MessageDraft] {
            (0..<count).map { _ in
                word += 1
                return MessageDraft(room: room, nick: "n", text: "w\(word)", createdAt: 1000)
            }
        }
        _ = try await store.append(drafts(5))
        try expectIndexMatchesTable(store.pool)
        let found = try await store.search(in: room, SearchPage(query: SearchQuery("w3")!, before: nil, limit: 10))
        #expect(found.messages.map(\.text) == ["w3"])

        // Deleting the newest messages lets SQLite hand their `seq` out again: the new message
        // that reuses one must still be indexed.
        try await store.pool.write { db in
            try db.execute(
                sql: "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages ORDER BY seq DESC LIMIT 2)"
            )
        }
        try expectIndexMatchesTable(store.pool)
        _ = try await store.append(drafts(1))
        try expectIndexMatchesTable(store.pool)

        // A message in the middle, an edit, and a delete of everything.
        try await store.pool.write { db in try db.execute(sql: "DELETE FROM messages WHERE text = 'w2'") }
        try await store.pool.write { db in try db.execute(sql: "UPDATE messages SET text = 'edited' WHERE text = 'w1'")
        }
        try expectIndexMatchesTable(store.pool)
        try await store.pool.write { db in try db.execute(sql: "DELETE FROM messages") }
        try expectIndexMatchesTable(store.pool)
        _ = try await store.append(drafts(3))
        try expectIndexMatchesTable(store.pool)
    }

    @Test func messagesInsertedAroundParleyAreIndexedByTheNextWriteOrOpen() async throws {
        let store = try SQLiteMessageStore(path: path)
        let room = RoomName("general")!
        _ = try await store.append([MessageDraft(room: room, nick: "n", text: "first", createdAt: 1)])
        // As `sqlite3` by hand would: an insert, then an edit and a delete of rows not yet indexed.
        try await store.pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO messages (room, id, nick, text, created_at) VALUES
                        ('general', 2, 'n', 'byhand', 2), ('general', 3, 'n', 'typo', 3), ('general', 4, 'n', 'gone', 4);
                    UPDATE rooms SET last_id = 4 WHERE name = 'general';
                    UPDATE messages SET text = 'fixed' WHERE text = 'typo';
                    DELETE FROM messages WHERE text = 'gone';
                    """
            )
        }
        let reopened = try SQLiteMessageStore(path: path)
        try expectIndexMatchesTable(reopened.pool)
        let found = try await reopened.search(
            in: room,
            SearchPage(query: SearchQuery("byhand")!, before: nil, limit: 10)
        )
        #expect(found.messages.map(\.id) == [2])

        try await reopened.pool.write { db in
            try db.execute(
                sql:
                    "INSERT INTO messages (room, id, nick, text, created_at) VALUES ('general', 5, 'n', 'later', 5); UPDATE rooms SET last_id = 5"
            )
        }
        _ = try await reopened.append([MessageDraft(room: room, nick: "n", text: "sixth", createdAt: 6)])
        try expectIndexMatchesTable(reopened.pool)
    }

    @Test func aDatabaseIndexedByTheOldTriggerKeepsEveryMessageSearchableAfterTheMigration() async throws {
        let queue = try DatabaseQueue(path: path)
        try ParleyMigrations.migrator.migrate(queue, upTo: "0003_client_message_ids")
        try await queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO rooms (name, last_id) VALUES ('general', 2);
                    INSERT INTO messages (room, id, nick, text, created_at) VALUES
                        ('general', 1, 'n', 'before', 1), ('general', 2, 'n', 'migration', 2);
                    """
            )
        }
        try queue.close()
        let store = try SQLiteMessageStore(path: path)
        try expectIndexMatchesTable(store.pool)
        _ = try await store.append([MessageDraft(room: RoomName("general")!, nick: "n", text: "after", createdAt: 3)])
        try expectIndexMatchesTable(store.pool)
    }
}
