import GRDB
import ParleyCore

/// The SQL the archive's queries share.
extension SQLiteMessageArchive {
    /// A nick's uniqueness key, as ``Nick/key`` computes it: SQLite's own `lower()` folds ASCII
    /// only, so the store registers Swift's lowercasing as an SQL function.
    static let foldNick = "\(DatabaseFunction.lowercase.name)(nick)"

    static func conditions(_ filter: MessageFilter) -> ([String], StatementArguments) {
        var conditions: [String] = []
        var arguments = StatementArguments()
        func add(_ condition: String, _ value: any DatabaseValueConvertible) {
            conditions.append(condition)
            _ = arguments.append(contentsOf: [value])
        }
        if let room = filter.room { add("room = ?", room.value) }
        if let id = filter.afterID { add("id > ?", id) }
        if let id = filter.beforeID { add("id < ?", id) }
        if let since = filter.since { add("created_at >= ?", since) }
        if let until = filter.until { add("created_at < ?", until) }
        if let nick = filter.nick { add("\(Self.foldNick) = ?", nick.key) }
        if let search = filter.search {
            add("seq IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)", search.fts5)
        }
        return (conditions, arguments)
    }

    static func fetch(_ db: Database, sql: String, arguments: StatementArguments) throws -> [ArchivedMessage] {
        var messages: [ArchivedMessage] = []
        let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
        while let row = try rows.next() {
            messages.append(
                ArchivedMessage(
                    seq: row[0],
                    room: row[1],
                    id: row[2],
                    nick: row[3],
                    text: row[4],
                    createdAt: row[5],
                    mid: row[6]
                )
            )
        }
        return messages
    }
}
