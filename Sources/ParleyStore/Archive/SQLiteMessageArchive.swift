import GRDB
public import ParleyCore

/// The operators' view of a SQLite store (see ``MessageArchive``).
///
/// Reads run on the pool's readers, so they work while `parley serve` writes (WAL) and never
/// hold its writes up. Imports and prunes write through the same pool.
public struct SQLiteMessageArchive: MessageArchive {
    public let store: SQLiteMessageStore

    public init(store: SQLiteMessageStore) {
        self.store = store
    }

    // MARK: Reading

    /// The messages matching `filter`: the newest `filter.limit` of them, oldest first.
    public func messages(_ filter: MessageFilter) throws -> [ArchivedMessage] {
        try store.pool.read { db in
            var (conditions, arguments) = Self.conditions(filter)
            var sql = "SELECT seq, room, id, nick, text, created_at, mid FROM messages"
            if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
            sql += " ORDER BY seq DESC"
            if let limit = filter.limit {
                sql += " LIMIT ?"
                _ = arguments.append(contentsOf: [limit])
            }
            return try Self.fetch(db, sql: sql, arguments: arguments).reversed()
        }
    }

    /// The first `limit` messages matching `filter` whose `seq` lies in
    /// `afterSeq + 1 ... throughSeq`, oldest first. `filter.limit` is ignored.
    public func messages(
        _ filter: MessageFilter,
        afterSeq: Int64,
        throughSeq: Int64,
        limit: Int
    ) throws
        -> [ArchivedMessage]
    {
        try store.pool.read { db in
            var (conditions, arguments) = Self.conditions(filter)
            conditions.append("seq > ? AND seq <= ?")
            _ = arguments.append(contentsOf: [afterSeq, throughSeq])
            _ = arguments.append(contentsOf: [limit])
            let sql = """
                SELECT seq, room, id, nick, text, created_at, mid FROM messages
                WHERE \(conditions.joined(separator: " AND ")) ORDER BY seq LIMIT ?
                """
            return try Self.fetch(db, sql: sql, arguments: arguments)
        }
    }

    /// The highest `seq` stored (0 for an empty log).
    public func lastSeq() throws -> Int64 {
        try store.pool.read { db in try Int64.fetchOne(db, sql: "SELECT max(seq) FROM messages") ?? 0 }
    }

    /// The names of every room, sorted.
    public func roomNames() throws -> [String] {
        try store.pool.read { db in try String.fetchAll(db, sql: "SELECT name FROM rooms ORDER BY name") }
    }
}
