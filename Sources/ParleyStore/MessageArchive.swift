public import Foundation
import GRDB
public import ParleyCore

/// Which stored messages an operator asks for. Every condition is optional and they combine
/// (AND).
public struct MessageFilter: Sendable, Equatable {
    public var room: RoomName?
    /// Only ids above this one (within the room).
    public var afterID: Int64?
    /// Only ids below this one.
    public var beforeID: Int64?
    /// Only messages at or after this time (milliseconds since the epoch).
    public var since: Int64?
    /// Only messages before this time.
    public var until: Int64?
    /// Only messages by this nick, compared case-insensitively like nicks on the server.
    public var nick: Nick?
    /// A full-text query in the syntax of ``SearchQuery``.
    public var search: SearchQuery?
    /// At most this many, the newest ones (shown oldest first); nil for all.
    public var limit: Int?

    public init(
        room: RoomName? = nil,
        afterID: Int64? = nil,
        beforeID: Int64? = nil,
        since: Int64? = nil,
        until: Int64? = nil,
        nick: Nick? = nil,
        search: SearchQuery? = nil,
        limit: Int? = nil
    ) {
        self.room = room
        self.afterID = afterID
        self.beforeID = beforeID
        self.since = since
        self.until = until
        self.nick = nick
        self.search = search
        self.limit = limit
    }
}

/// A stored message as the archive reads it: the chat message plus its place in the whole log.
public struct ArchivedMessage: Sendable, Equatable {
    /// The commit order across all rooms (`messages.seq`).
    public var seq: Int64
    public var room: String
    public var id: Int64
    public var nick: String
    public var text: String
    /// Milliseconds since the epoch.
    public var createdAt: Int64
    /// The sender's own id for the message, if it gave one.
    public var mid: String?

    public init(
        seq: Int64 = 0,
        room: String,
        id: Int64,
        nick: String,
        text: String,
        createdAt: Int64,
        mid: String? = nil
    ) {
        self.seq = seq
        self.room = room
        self.id = id
        self.nick = nick
        self.text = text
        self.createdAt = createdAt
        self.mid = mid
    }
}

/// One room in the operator's overview.
public struct RoomSummary: Sendable, Equatable {
    public var name: String
    public var messageCount: Int
    public var distinctNicks: Int
    /// Milliseconds since the epoch; nil when the room has no stored message.
    public var firstAt: Int64?
    public var lastAt: Int64?
    /// The newest id the room ever had (pruned messages included).
    public var lastID: Int64
}

/// Totals and rankings for `parley stats`.
public struct ArchiveStatistics: Sendable, Equatable {
    public var messageCount: Int
    public var roomCount: Int
    public var nickCount: Int
    public var firstAt: Int64?
    public var lastAt: Int64?
    /// Local calendar days (`YYYY-MM-DD`), oldest first, each of the last N days, zeros included.
    public var perDay: [(day: String, count: Int)]
    public var busiestRooms: [(name: String, count: Int)]
    public var busiestNicks: [(name: String, count: Int)]
    public var databaseBytes: Int64

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.messageCount == rhs.messageCount && lhs.roomCount == rhs.roomCount && lhs.nickCount == rhs.nickCount
            && lhs.firstAt == rhs.firstAt && lhs.lastAt == rhs.lastAt
            && lhs.perDay.map { "\($0.day)=\($0.count)" } == rhs.perDay.map { "\($0.day)=\($0.count)" }
            && lhs.busiestRooms.map { "\($0.name)=\($0.count)" } == rhs.busiestRooms.map { "\($0.name)=\($0.count)" }
            && lhs.busiestNicks.map { "\($0.name)=\($0.count)" } == rhs.busiestNicks.map { "\($0.name)=\($0.count)" }
            && lhs.databaseBytes == rhs.databaseBytes
    }
}

/// Why an import was refused; nothing of it was stored.
public struct ImportError: Error, CustomStringConvertible, Equatable {
    /// 1-based line number in the input.
    public var line: Int
    public var reason: String

    public init(line: Int, reason: String) {
        self.line = line
        self.reason = reason
    }

    public var description: String { "line \(line): \(reason)" }
}

/// The operator's view of the store: queries across rooms, summaries, import and pruning.
///
/// Reads run on the pool's readers, so they work while `parley serve` writes (WAL) and never
/// hold its writes up. Imports and prunes write through the same pool.
public struct MessageArchive: Sendable {
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

    /// Calls `body` with the messages matching `filter` whose `seq` lies in
    /// `afterSeq + 1 ... throughSeq`, oldest first, in batches of at most `batch` (each batch
    /// read on its own, so memory stays flat however many match). `filter.limit` is ignored.
    public func scan(
        _ filter: MessageFilter,
        afterSeq: Int64,
        throughSeq: Int64,
        batch: Int = 10_000,
        _ body: ([ArchivedMessage]) throws -> Void
    ) throws {
        var cursor = afterSeq
        while cursor < throughSeq {
            let messages = try store.pool.read { db in
                var (conditions, arguments) = Self.conditions(filter)
                conditions.append("seq > ? AND seq <= ?")
                _ = arguments.append(contentsOf: [cursor, throughSeq])
                _ = arguments.append(contentsOf: [batch])
                let sql = """
                    SELECT seq, room, id, nick, text, created_at, mid FROM messages
                    WHERE \(conditions.joined(separator: " AND ")) ORDER BY seq LIMIT ?
                    """
                return try Self.fetch(db, sql: sql, arguments: arguments)
            }
            if !messages.isEmpty { try body(messages) }
            guard messages.count == batch, let last = messages.last else { return }
            cursor = last.seq
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
    public func statistics(days: Int, top: Int, now: Date = Date()) throws -> ArchiveStatistics {
        let calendar = Calendar.current
        let today = calendar.startOfDay(for: now)
        let firstDay = calendar.date(byAdding: .day, value: -(days - 1), to: today) ?? today
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = calendar.timeZone
        formatter.dateFormat = "yyyy-MM-dd"
        return try store.pool.read { db in
            let totals = try Row.fetchOne(
                db,
                sql: """
                    SELECT count(*), count(DISTINCT room), count(DISTINCT \(Self.foldNick)), min(created_at), max(created_at)
                    FROM messages
                    """
            )
            // Day boundaries come from the calendar (local days, daylight saving included); each
            // day is then one range count on the time index.
            let count = try db.cachedStatement(
                sql: "SELECT count(*) FROM messages WHERE created_at >= ? AND created_at < ?"
            )
            let dayList = try (0..<max(days, 0)).compactMap { offset -> (String, Int)? in
                guard let day = calendar.date(byAdding: .day, value: offset, to: firstDay),
                    let next = calendar.date(byAdding: .day, value: 1, to: day)
                else { return nil }
                let range: StatementArguments = [
                    Int64(day.timeIntervalSince1970 * 1000), Int64(next.timeIntervalSince1970 * 1000),
                ]
                return (formatter.string(from: day), try Int.fetchOne(count, arguments: range) ?? 0)
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

    // MARK: Writing

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
                        throw ImportError(
                            line: lines[index],
                            reason:
                                "#\(message.room) already has a different message with id \(message.id); nothing was imported"
                        )
                    }
                    skipped += 1
                } else {
                    try insert.execute(arguments: [
                        message.room, message.id, message.nick, message.text, message.createdAt, message.mid,
                    ])
                    added += 1
                }
            }
            return (added, skipped)
        }
    }

    /// Deletes messages older than `cutoff` (milliseconds since the epoch), in `room` or
    /// everywhere, and returns how many. Deletes in batches, each its own short transaction, so a
    /// running server is never kept waiting long. With `dryRun`, only counts.
    public func prune(olderThan cutoff: Int64, room: RoomName?, dryRun: Bool, batch: Int = 5_000) async throws -> Int {
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

    // MARK: SQL

    /// A nick's uniqueness key, as ``Nick/key`` computes it: SQLite's own `lower()` folds ASCII
    /// only, so the store registers Swift's lowercasing as an SQL function.
    static let foldNick = "\(DatabaseFunction.lowercase.name)(nick)"

    private static func conditions(_ filter: MessageFilter) -> ([String], StatementArguments) {
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

    private static func fetch(_ db: Database, sql: String, arguments: StatementArguments) throws -> [ArchivedMessage] {
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
