import Foundation
public import GRDB
public import ParleyCore

/// The SQLite ``MessageStore``: one database file in WAL mode, opened through a GRDB
/// `DatabasePool` (one writer, several concurrent readers).
///
/// Writes are durable when ``append(_:)`` returns: by default the writer runs with
/// `synchronous = FULL`, which syncs the WAL on every commit, so an acknowledged message survives
/// a crash of the process or of the machine.
public final class SQLiteMessageStore: MessageStore {
    /// How the store opens its file.
    public struct Options: Sendable {
        /// Create the file and apply migrations (the server), or only read (admin commands).
        public var readOnly: Bool
        /// `FULL` (the default) or `NORMAL`; `NORMAL` may lose the last commits on power loss.
        public var synchronousFull: Bool
        /// How long, in seconds, a connection waits for a lock held by another process.
        public var busyTimeout: Double

        public init(readOnly: Bool = false, synchronousFull: Bool = true, busyTimeout: Double = 5) {
            self.readOnly = readOnly
            self.synchronousFull = synchronousFull
            self.busyTimeout = busyTimeout
        }
    }

    /// The GRDB pool, for callers (the admin CLI, tests) that need SQL of their own.
    public let pool: DatabasePool
    public let path: String

    /// Opens (and, unless read-only, creates and migrates) the database at `path`.
    ///
    /// Fails with a ``StoreError`` that names the file for the problems an operator meets: a
    /// missing file or folder, a file that is not a database, one that cannot be opened.
    public convenience init(path: String, options: Options = Options()) throws {
        let exists = FileManager.default.fileExists(atPath: path)
        if options.readOnly && !exists {
            throw StoreError.missingDatabase(path: path)
        }
        if !exists {
            let folder = (path as NSString).deletingLastPathComponent
            var isFolder: ObjCBool = false
            if !folder.isEmpty,
                !FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) || !isFolder.boolValue
            {
                throw StoreError.missingFolder(path: path, folder: folder)
            }
        }
        do {
            try self.init(opening: path, options: options)
        } catch let error as DatabaseError {
            switch error.resultCode {
            case .SQLITE_NOTADB, .SQLITE_CORRUPT:
                throw StoreError.notADatabase(path: path)
            case .SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_AUTH:
                let reason =
                    exists
                    ? "permission denied, or the file is not a regular file"
                    : "cannot create a file in \((path as NSString).deletingLastPathComponent) (permission denied?)"
                throw StoreError.cannotOpen(path: path, reason: reason)
            default:
                throw StoreError.cannotOpen(path: path, reason: error.message ?? "\(error.resultCode)")
            }
        }
    }

    private init(opening path: String, options: Options) throws {
        var configuration = Configuration()
        configuration.readonly = options.readOnly
        configuration.busyMode = .timeout(options.busyTimeout)
        configuration.label = "parley"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            db.add(function: .lowercase)  // nick keys in SQL (see MessageArchive)
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        self.pool = pool
        self.path = path
        let (superseded, complete) = try pool.read { db in
            let migrator = ParleyMigrations.migrator
            return (try migrator.hasBeenSuperseded(db), try migrator.hasCompletedMigrations(db))
        }
        if superseded { throw StoreError.newerSchema(path: path) }
        if options.readOnly {
            if !complete { throw StoreError.olderSchema(path: path) }
        } else {
            try ParleyMigrations.migrator.migrate(pool)
            // Messages written around Parley since the last write become searchable now.
            try pool.write { db in try SearchIndex.indexNewMessages(in: db) }
            // GRDB sets a WAL database to NORMAL while it opens the writer, after any
            // `prepareDatabase` closure ran, so the durability level is set here, afterwards.
            let level = options.synchronousFull ? "FULL" : "NORMAL"
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(level)") }
        }
    }

    public var tracksOutsideWrites: Bool { true }

    /// The writer connection's `PRAGMA data_version`, which SQLite changes whenever another
    /// connection commits: this server's own commits all go through the writer, so only other
    /// programs (and nothing of the server's readers, which never write) change it.
    public func outsideRevision() async throws -> Int64 {
        try await pool.writeWithoutTransaction { db in try Int64.fetchOne(db, sql: "PRAGMA data_version") ?? 0 }
    }

    /// The writer connection's `PRAGMA synchronous` (2 is FULL, 1 is NORMAL).
    public func writerSynchronousLevel() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    public func append(_ drafts: [MessageDraft]) async throws -> [AppendResult] {
        guard !drafts.isEmpty else { return [] }
        return try await pool.write { db in try Self.append(drafts, in: db) }
    }

    static func append(_ drafts: [MessageDraft], in db: Database) throws -> [AppendResult] {
        var lastIDs: [RoomName: Int64] = [:]
        let selectLastID = try db.cachedStatement(sql: "SELECT last_id FROM rooms WHERE name = ?")
        let insert = try db.cachedStatement(
            sql: "INSERT INTO messages (room, id, nick, text, created_at, mid) VALUES (?, ?, ?, ?, ?, ?)"
        )
        let selectByMID = try db.cachedStatement(
            sql: "SELECT id, nick, text, created_at FROM messages WHERE room = ? AND mid = ?"
        )
        let upsertRoom = try db.cachedStatement(
            sql: """
                INSERT INTO rooms (name, last_id) VALUES (?, ?)
                ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id
                """
        )
        var stored: [AppendResult] = []
        stored.reserveCapacity(drafts.count)
        for draft in drafts {
            if let mid = draft.mid, let row = try Row.fetchOne(selectByMID, arguments: [draft.room.value, mid]) {
                let original = ChatMessage(
                    room: draft.room,
                    id: row[0],
                    nick: row[1],
                    text: row[2],
                    createdAt: row[3],
                    mid: mid
                )
                stored.append(AppendResult(message: original, isNew: false))
                continue
            }
            let previous: Int64
            if let known = lastIDs[draft.room] {
                previous = known
            } else {
                previous = try Int64.fetchOne(selectLastID, arguments: [draft.room.value]) ?? 0
                if previous == 0 {
                    // The room row must exist before a message references it.
                    try upsertRoom.execute(arguments: [draft.room.value, 0])
                }
            }
            let id = previous + 1
            lastIDs[draft.room] = id
            try insert.execute(arguments: [draft.room.value, id, draft.nick, draft.text, draft.createdAt, draft.mid])
            let message = ChatMessage(
                room: draft.room,
                id: id,
                nick: draft.nick,
                text: draft.text,
                createdAt: draft.createdAt,
                mid: draft.mid
            )
            stored.append(AppendResult(message: message, isNew: true))
        }
        for (room, lastID) in lastIDs {
            try upsertRoom.execute(arguments: [room.value, lastID])
        }
        try SearchIndex.indexNewMessages(in: db)
        return stored
    }

    public func history(of room: RoomName, _ page: HistoryPage) async throws -> HistorySlice {
        try await pool.read { db in try Self.history(of: room, page, in: db) }
    }

    static func history(of room: RoomName, _ page: HistoryPage, in db: Database) throws -> HistorySlice {
        // One row more than asked tells whether the page is truncated.
        let sql: String
        let arguments: StatementArguments
        switch page {
        case .latest(let limit):
            sql = "SELECT id, nick, text, created_at, mid FROM messages WHERE room = ? ORDER BY id DESC LIMIT ?"
            arguments = [room.value, limit + 1]
        case .before(let id, let limit):
            sql =
                "SELECT id, nick, text, created_at, mid FROM messages WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?"
            arguments = [room.value, id, limit + 1]
        case .after(let id, let limit):
            sql =
                "SELECT id, nick, text, created_at, mid FROM messages WHERE room = ? AND id > ? ORDER BY id ASC LIMIT ?"
            arguments = [room.value, id, limit + 1]
        }
        var messages: [ChatMessage] = []
        let rows = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments)
        while let row = try rows.next() {
            messages.append(
                ChatMessage(room: room, id: row[0], nick: row[1], text: row[2], createdAt: row[3], mid: row[4])
            )
        }
        let truncated = messages.count > page.limit
        if truncated { messages.removeLast() }
        if case .after = page {} else { messages.reverse() }
        let roomLastID =
            try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT last_id FROM rooms WHERE name = ?"),
                arguments: [room.value]
            )
            ?? 0
        return HistorySlice(messages: messages, truncated: truncated, roomLastID: roomLastID)
    }

    public func rooms() async throws -> [StoredRoom] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT name, last_id, (SELECT count(*) FROM messages WHERE room = rooms.name),
                        (SELECT created_at FROM messages WHERE room = rooms.name ORDER BY id DESC LIMIT 1)
                    FROM rooms ORDER BY name
                    """
            ).map { row in
                StoredRoom(name: RoomName(trusted: row[0]), messageCount: row[2], lastID: row[1], lastMessageAt: row[3])
            }
        }
    }

    public func lastIDs(of rooms: [RoomName]) async throws -> [RoomName: Int64] {
        if rooms.isEmpty { return [:] }
        return try await pool.read { db in
            let statement = try db.cachedStatement(sql: "SELECT last_id FROM rooms WHERE name = ?")
            var lastIDs: [RoomName: Int64] = [:]
            for room in rooms {
                if let lastID = try Int64.fetchOne(statement, arguments: [room.value]) { lastIDs[room] = lastID }
            }
            return lastIDs
        }
    }

    public func search(in room: RoomName, _ page: SearchPage) async throws -> HistorySlice {
        try await pool.read { db in
            // The FTS index is matched first (it knows no rooms), then narrowed to the room; one
            // row more than asked tells whether older matches remain.
            let rows = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT id, nick, text, created_at, mid FROM messages
                        WHERE room = ? AND id < ?
                          AND seq IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)
                        ORDER BY id DESC LIMIT ?
                        """
                ),
                arguments: [room.value, page.before ?? Int64.max, page.query.fts5, page.limit + 1]
            )
            var messages = rows.map { row in
                ChatMessage(room: room, id: row[0], nick: row[1], text: row[2], createdAt: row[3], mid: row[4])
            }
            let truncated = messages.count > page.limit
            if truncated { messages.removeLast() }
            let roomLastID =
                try Int64.fetchOne(
                    db.cachedStatement(sql: "SELECT last_id FROM rooms WHERE name = ?"),
                    arguments: [room.value]
                ) ?? 0
            return HistorySlice(messages: messages.reversed(), truncated: truncated, roomLastID: roomLastID)
        }
    }
}
