public import Foundation
import GRDB
public import ParleyCore

extension SQLiteMessageArchive {
    /// Every room with its message count, distinct nicks and first and last message time.
    public func roomSummaries() throws -> [RoomSummary] {
        try store.pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT rooms.name, rooms.last_id, count(messages.seq), count(DISTINCT \(Self.foldNick)),
                           min(messages.created_at), max(messages.created_at)
                    FROM rooms LEFT JOIN messages ON messages.room = rooms.name
                    GROUP BY rooms.name ORDER BY rooms.name
                    """
            ).map { row in
                RoomSummary(
                    name: row[0],
                    messageCount: row[2],
                    distinctNicks: row[3],
                    firstAt: row[4],
                    lastAt: row[5],
                    lastID: row[1]
                )
            }
        }
    }

    /// Totals, messages per local day for the last `days` days up to `now`, and the `top` busiest
    /// rooms and nicks.
    public func statistics(days: Int, top: Int, now: Date) throws -> ArchiveStatistics {
        return try store.pool.read { db in
            let totals = try Row.fetchOne(
                db,
                sql: """
                    SELECT count(*), count(DISTINCT room), count(DISTINCT \(Self.foldNick)), min(created_at), max(created_at)
                    FROM messages
                    """
            )
            let count = try db.cachedStatement(
                sql: "SELECT count(*) FROM messages WHERE created_at >= ? AND created_at < ?"
            )
            let dayList = try LocalDays(days: days, endingAt: now).all.map { day in
                (day.name, try Int.fetchOne(count, arguments: [day.start, day.end]) ?? 0)
            }
            let ranking = { (column: String, key: String) in
                try Row.fetchAll(
                    db,
                    sql:
                        "SELECT min(\(column)), count(*) AS n FROM messages GROUP BY \(key) ORDER BY n DESC, 1 COLLATE NOCASE LIMIT ?",
                    arguments: [top]
                ).map { (name: $0[0] as String, count: $0[1] as Int) }
            }
            let pageCount = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 0
            let walBytes =
                (try? FileManager.default.attributesOfItem(atPath: store.path + "-wal")[.size] as? Int64) ?? 0
            return ArchiveStatistics(
                messageCount: totals?[0] ?? 0,
                roomCount: totals?[1] ?? 0,
                nickCount: totals?[2] ?? 0,
                firstAt: totals?[3],
                lastAt: totals?[4],
                perDay: dayList.map { (day: $0.0, count: $0.1) },
                busiestRooms: try ranking("room", "room"),
                busiestNicks: try ranking("nick", Self.foldNick),
                databaseBytes: pageCount * pageSize + walBytes
            )
        }
    }
}
