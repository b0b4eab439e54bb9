import Foundation
import GRDB
public import ParleyCore

extension SQLiteMessageArchive {
    /// Stores `messages` in one transaction, keeping their rooms and ids. A message whose room
    /// already holds the same id with the same nick, text and time is skipped, so importing a
    /// file twice adds nothing; the same id with different content refuses the whole import.
    /// Returns how many were added and how many were already there.
    ///
    /// - Parameter lines: the 1-based input line of each message, for error messages.
    public func importMessages(_ messages: [ArchivedMessage], lines: [Int]) async throws -> (added: Int, skipped: Int) {
        try await store.pool.write { db in
            let existing = try db.cachedStatement(
                sql: "SELECT nick, text, created_at FROM messages WHERE room = ? AND id = ?"
            )
            let insert = try db.cachedStatement(
                sql: "INSERT INTO messages (room, id, nick, text, created_at, mid) VALUES (?, ?, ?, ?, ?, ?)"
            )
            // A room's sequence must stay ahead of every id it holds, or the server would reuse one.
            let advanceRoom = try db.cachedStatement(
                sql: """
                    INSERT INTO rooms (name, last_id) VALUES (?, ?)
                    ON CONFLICT (name) DO UPDATE SET last_id = max(last_id, excluded.last_id)
                    """
            )
            var added = 0
            var skipped = 0
            for (index, message) in messages.enumerated() {
                try advanceRoom.execute(arguments: [message.room, message.id])
                if let row = try Row.fetchOne(existing, arguments: [message.room, message.id]) {
                    guard row[0] == message.nick, row[1] == message.text, row[2] == message.createdAt else {
                        throw ImportError.conflict(line: lines[index], room: message.room, id: message.id)
                    }
                    skipped += 1
                } else {
                    try insert.execute(arguments: [
                        message.room, message.id, message.nick, message.text, message.createdAt, message.mid,
                    ])
                    added += 1
                }
            }
            try SearchIndex.indexNewMessages(in: db)
            return (added, skipped)
        }
    }

    /// Deletes messages older than `cutoff` (milliseconds since the epoch), in `room` or
    /// everywhere, and returns how many. Deletes in batches, each its own short transaction, so a
    /// running server is never kept waiting long. With `dryRun`, only counts.
    public func prune(olderThan cutoff: Int64, room: RoomName?, dryRun: Bool, batch: Int) async throws -> Int {
        let condition = room == nil ? "created_at < ?" : "created_at < ? AND room = ?"
        let arguments: StatementArguments = room.map { [cutoff, $0.value] } ?? [cutoff]
        if dryRun {
            return try await store.pool.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM messages WHERE \(condition)", arguments: arguments) ?? 0
            }
        }
        var deleted = 0
        while true {
            let count = try await store.pool.write { db in
                try db.execute(
                    sql:
                        "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE \(condition) LIMIT \(batch))",
                    arguments: arguments
                )
                return db.changesCount
            }
            deleted += count
            if count < batch { return deleted }
        }
    }
}
