public import Foundation
public import Logging
public import ParleyCore
public import PostgresNIO

/// The operators' view of a PostgreSQL store (see ``MessageArchive``), for the admin commands
/// on a cluster's database. Reads and writes go through the same tables the nodes use, so the
/// commands work while nodes serve.
///
/// Nicks are compared as on the server: folded by Parley (``Nick/key``), not by PostgreSQL's
/// locale-dependent `lower()`. So a nick filter first reads which spellings the log holds and
/// asks for those, and nick counts are folded after reading.
public struct PostgresMessageArchive: MessageArchive {
    public let client: PostgresClient
    private let logger: Logger

    /// - Parameter client: a running client (the caller runs it).
    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    // MARK: Reading

    public func messages(_ filter: MessageFilter) async throws -> [ArchivedMessage] {
        var bindings = PostgresBindings()
        var sql = "SELECT seq, room, id, nick, text, created_at, mid FROM messages"
        let conditions = try await self.conditions(filter, &bindings)
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY seq DESC"
        if let limit = filter.limit {
            bindings.append(limit)
            sql += " LIMIT $\(bindings.count)"
        }
        return try await fetch(PostgresQuery(unsafeSQL: sql, binds: bindings)).reversed()
    }

    public func messages(
        _ filter: MessageFilter,
        afterSeq: Int64,
        throughSeq: Int64,
        limit: Int
    ) async throws
        -> [ArchivedMessage]
    {
        var bindings = PostgresBindings()
        var conditions = try await self.conditions(filter, &bindings)
        bindings.append(afterSeq)
        bindings.append(throughSeq)
        conditions.append("seq > $\(bindings.count - 1) AND seq <= $\(bindings.count)")
        bindings.append(limit)
        let sql = """
            SELECT seq, room, id, nick, text, created_at, mid FROM messages
            WHERE \(conditions.joined(separator: " AND ")) ORDER BY seq LIMIT $\(bindings.count)
            """
        return try await fetch(PostgresQuery(unsafeSQL: sql, binds: bindings))
    }

    public func lastSeq() async throws -> Int64 {
        try await single("SELECT coalesce(max(seq), 0)::bigint FROM messages", as: Int64.self) ?? 0
    }

    public func roomNames() async throws -> [String] {
        var names: [String] = []
        // COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
        for try await name in try await client.query(
            "SELECT name FROM rooms ORDER BY name COLLATE \"C\"",
            logger: logger
        )
        .decode(String.self) {
            names.append(name)
        }
        return names
    }

    public func roomSummaries() async throws -> [RoomSummary] {
        var summaries: [RoomSummary] = []
        for try await (name, lastID, count, first, last) in try await client.query(
            """
            SELECT rooms.name, rooms.last_id, count(messages.seq), min(messages.created_at), max(messages.created_at)
            FROM rooms LEFT JOIN messages ON messages.room = rooms.name
            GROUP BY rooms.name, rooms.last_id ORDER BY rooms.name COLLATE "C"
            """,
            logger: logger
        ).decode((String, Int64, Int64, Int64?, Int64?).self) {
            summaries.append(
                RoomSummary(
                    name: name,
                    messageCount: Int(count),
                    distinctNicks: 0,
                    firstAt: first,
                    lastAt: last,
                    lastID: lastID
                )
            )
        }
        var nicksByRoom: [String: Set<String>] = [:]
        for try await (room, nick) in try await client.query(
            "SELECT DISTINCT room, nick FROM messages",
            logger: logger
        ).decode((String, String).self) {
            nicksByRoom[room, default: []].insert(Self.fold(nick))
        }
        for index in summaries.indices {
            summaries[index].distinctNicks = nicksByRoom[summaries[index].name]?.count ?? 0
        }
        return summaries
    }

    public func statistics(days: Int, top: Int, now: Date) async throws -> ArchiveStatistics {
        var statistics = ArchiveStatistics(
            messageCount: 0,
            roomCount: 0,
            nickCount: 0,
            perDay: [],
            busiestRooms: [],
            busiestNicks: [],
            databaseBytes: 0
        )
        for try await (count, rooms, first, last) in try await client.query(
            "SELECT count(*), count(DISTINCT room), min(created_at), max(created_at) FROM messages",
            logger: logger
        ).decode((Int64, Int64, Int64?, Int64?).self) {
            statistics.messageCount = Int(count)
            statistics.roomCount = Int(rooms)
            statistics.firstAt = first
            statistics.lastAt = last
        }
        for day in LocalDays(days: days, endingAt: now).all {
            let count =
                try await single(
                    "SELECT count(*) FROM messages WHERE created_at >= \(day.start) AND created_at < \(day.end)",
                    as: Int64.self
                ) ?? 0
            statistics.perDay.append((day: day.name, count: Int(count)))
        }
        for try await (room, count) in try await client.query(
            "SELECT room, count(*) AS n FROM messages GROUP BY room ORDER BY n DESC, lower(room) COLLATE \"C\" LIMIT \(top)",
            logger: logger
        ).decode((String, Int64).self) {
            statistics.busiestRooms.append((name: room, count: Int(count)))
        }
        // Spellings of one nick count as one, named by their smallest spelling (as on SQLite).
        var byNick: [String: (name: String, count: Int)] = [:]
        for try await (nick, count) in try await client.query(
            "SELECT nick, count(*) FROM messages GROUP BY nick",
            logger: logger
        ).decode((String, Int64).self) {
            let key = Self.fold(nick)
            let earlier = byNick[key]
            byNick[key] = (min(earlier?.name ?? nick, nick), (earlier?.count ?? 0) + Int(count))
        }
        statistics.nickCount = byNick.count
        statistics.busiestNicks = Array(
            byNick.values.sorted { ($1.count, $0.name.lowercased()) < ($0.count, $1.name.lowercased()) }.prefix(top)
        )
        statistics.databaseBytes =
            try await single("SELECT pg_database_size(current_database())", as: Int64.self) ?? 0
        return statistics
    }

    // MARK: Writing

    /// Stores `messages` in one transaction, keeping their rooms, ids and `mid`s; all or
    /// nothing, with the same rules as SQLite's import: a message whose room already holds the
    /// same id with the same nick, text and time is skipped, the same id with other content
    /// refuses the whole import.
    public func importMessages(_ messages: [ArchivedMessage], lines: [Int]) async throws -> (added: Int, skipped: Int) {
        // The same room and id twice in the input: once if identical, else refused.
        var firstIndex: [String: Int] = [:]
        var unique: [Int] = []
        var skipped = 0
        for (index, message) in messages.enumerated() {
            let place = "\(message.id) \(message.room)"
            if let earlier = firstIndex[place] {
                let first = messages[earlier]
                guard first.nick == message.nick, first.text == message.text, first.createdAt == message.createdAt
                else {
                    throw ImportError.conflict(line: lines[index], room: message.room, id: message.id)
                }
                skipped += 1
            } else {
                firstIndex[place] = index
                unique.append(index)
            }
        }
        let batches = stride(from: 0, to: unique.count, by: 5_000).map {
            Array(unique[$0..<min($0 + 5_000, unique.count)])
        }
        let added = try await client.withTransaction(logger: logger) { connection in
            var added = 0
            for batch in batches {
                let rooms = batch.map { messages[$0].room }
                let ids = batch.map { messages[$0].id }
                let nicks = batch.map { messages[$0].nick }
                let texts = batch.map { messages[$0].text }
                let created = batch.map { messages[$0].createdAt }
                let mids = batch.map { messages[$0].mid ?? "" }
                // A room's sequence must stay ahead of every id it holds, or a node would reuse one.
                try await connection.query(
                    """
                    INSERT INTO rooms (name, last_id)
                    SELECT room, max(id) FROM unnest(\(rooms)::text[], \(ids)::bigint[]) AS t(room, id) GROUP BY room
                    ON CONFLICT (name) DO UPDATE SET last_id = greatest(rooms.last_id, excluded.last_id)
                    """,
                    logger: logger
                )
                for try await (ordinal, same) in try await connection.query(
                    """
                    SELECT t.ordinal, m.nick = t.nick AND m.text = t.text AND m.created_at = t.created
                    FROM unnest(\(rooms)::text[], \(ids)::bigint[], \(nicks)::text[], \(texts)::text[], \(created)::bigint[])
                        WITH ORDINALITY AS t(room, id, nick, text, created, ordinal)
                    JOIN messages m ON m.room = t.room AND m.id = t.id
                    ORDER BY t.ordinal
                    """,
                    logger: logger
                ).decode((Int64, Bool).self) {
                    let index = batch[Int(ordinal) - 1]
                    guard same else {
                        throw ImportError.conflict(
                            line: lines[index],
                            room: messages[index].room,
                            id: messages[index].id
                        )
                    }
                    skipped += 1
                }
                for try await count in try await connection.query(
                    """
                    WITH inserted AS (
                        INSERT INTO messages (room, id, nick, text, created_at, mid)
                        SELECT t.room, t.id, t.nick, t.text, t.created, NULLIF(t.mid, '')
                        FROM unnest(\(rooms)::text[], \(ids)::bigint[], \(nicks)::text[], \(texts)::text[], \(created)::bigint[], \(mids)::text[])
                            WITH ORDINALITY AS t(room, id, nick, text, created, mid, ordinal)
                        WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.room = t.room AND m.id = t.id)
                        -- In the input's order, so that the log's order (seq) is kept.
                        ORDER BY t.ordinal
                        RETURNING 1
                    )
                    SELECT count(*) FROM inserted
                    """,
                    logger: logger
                ).decode(Int64.self) {
                    added += Int(count)
                }
            }
            return added
        }
        return (added, skipped)
    }

    /// Deletes (or with `dryRun` counts) the messages older than `cutoff`, in batches of short
    /// transactions, so the nodes are never kept waiting long.
    public func prune(olderThan cutoff: Int64, room: RoomName?, dryRun: Bool, batch: Int) async throws -> Int {
        let roomName = room?.value
        if dryRun {
            let count = try await single(
                "SELECT count(*) FROM messages WHERE created_at < \(cutoff) AND (\(roomName)::text IS NULL OR room = \(roomName))",
                as: Int64.self
            )
            return Int(count ?? 0)
        }
        var deleted = 0
        while true {
            let count =
                try await single(
                    """
                    WITH gone AS (
                        DELETE FROM messages WHERE seq IN (
                            SELECT seq FROM messages
                            WHERE created_at < \(cutoff) AND (\(roomName)::text IS NULL OR room = \(roomName))
                            LIMIT \(batch))
                        RETURNING 1
                    )
                    SELECT count(*) FROM gone
                    """,
                    as: Int64.self
                ) ?? 0
            deleted += Int(count)
            if count < batch { return deleted }
        }
    }

    // MARK: Helpers

    /// The SQL conditions of `filter`, their values appended to `bindings`.
    private func conditions(_ filter: MessageFilter, _ bindings: inout PostgresBindings) async throws -> [String] {
        var conditions: [String] = []
        func add(_ condition: (String) -> String, _ value: some PostgresNonThrowingEncodable & Sendable) {
            bindings.append(value)
            conditions.append(condition("$\(bindings.count)"))
        }
        if let room = filter.room { add({ "room = \($0)" }, room.value) }
        if let id = filter.afterID { add({ "id > \($0)" }, id) }
        if let id = filter.beforeID { add({ "id < \($0)" }, id) }
        if let since = filter.since { add({ "created_at >= \($0)" }, since) }
        if let until = filter.until { add({ "created_at < \($0)" }, until) }
        if let nick = filter.nick { add({ "nick = ANY(\($0))" }, try await spellings(of: nick)) }
        if let search = filter.search {
            conditions.append("search @@ (\(PostgresMessageStore.tsquery(search, bindings: &bindings)))")
        }
        return conditions
    }

    /// Every spelling of `nick` (`Alice`, `alice`, ...) the log holds.
    private func spellings(of nick: Nick) async throws -> [String] {
        var spellings: [String] = []
        for try await spelling in try await client.query("SELECT DISTINCT nick FROM messages", logger: logger)
            .decode(String.self) where Self.fold(spelling) == nick.key
        {
            spellings.append(spelling)
        }
        return spellings
    }

    /// A stored nick's key as the server folds it (a nick that no longer parses: lowercased).
    private static func fold(_ nick: String) -> String {
        Nick(nick)?.key ?? nick.lowercased()
    }

    private func single<Value: PostgresDecodable & Sendable>(
        _ query: PostgresQuery,
        as: Value.Type
    ) async throws -> Value? {
        for try await value in try await client.query(query, logger: logger).decode(Value.self) { return value }
        return nil
    }

    private func fetch(_ query: PostgresQuery) async throws -> [ArchivedMessage] {
        var messages: [ArchivedMessage] = []
        for try await (seq, room, id, nick, text, createdAt, mid) in try await client.query(query, logger: logger)
            .decode((Int64, String, Int64, String, String, Int64, String?).self)
        {
            messages.append(
                ArchivedMessage(seq: seq, room: room, id: id, nick: nick, text: text, createdAt: createdAt, mid: mid)
            )
        }
        return messages
    }
}

extension PostgresMessageArchive {
    /// Opens the archive of the database at `url` for an admin command: connects once (so an
    /// unreachable database is reported within seconds, with PostgreSQL's reason), applies the
    /// migrations it lacks when `migrate` (an import into a new database), or else checks it has
    /// Parley's tables; then starts a small pool that runs until the process exits.
    public static func open(_ url: PostgresDatabaseURL, migrate: Bool, logger: Logger) async throws -> Self {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                configuration: try url.connectionConfiguration(applicationName: "parley admin"),
                id: 0,
                logger: logger
            )
        } catch {
            throw PostgresStoreError.unusable(url: url.description, reason: PostgresStoreError.reason(error))
        }
        var failure: (any Error)?
        do {
            if migrate {
                try await PostgresMigrations.migrate(connection, logger: logger)
            } else {
                var migrated = false
                for try await exists in try await connection.query(
                    "SELECT to_regclass('parley_migrations') IS NOT NULL",
                    logger: logger
                ).decode(Bool.self) {
                    migrated = exists
                }
                if !migrated { failure = PostgresStoreError.notMigrated(url: url.description) }
            }
        } catch let error as PostgresStoreError {
            failure = error
        } catch {
            failure = PostgresStoreError.unusable(url: url.description, reason: PostgresStoreError.reason(error))
        }
        try? await connection.close()
        if let failure { throw failure }
        var configuration = url.clientConfiguration(applicationName: "parley admin")
        configuration.options.maximumConnections = 2
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        Task { await client.run() }
        return Self(client: client, logger: logger)
    }
}
