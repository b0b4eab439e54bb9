import Foundation
public import Logging
public import ParleyCore
public import PostgresNIO

/// The PostgreSQL ``MessageStore``, for several Parley nodes on one database.
///
/// Every batch is one call of `parley_append` (Migrations/postgres/0001), which locks the rooms
/// it writes to and advances their sequences in the same transaction as the inserts: a room's
/// visible ids stay a contiguous prefix whatever node wrote them, and a `mid` is stored once
/// whichever node receives the retry. A batch is durable when ``append(_:)`` returns, with
/// PostgreSQL's default `synchronous_commit = on`.
///
/// The store does not run its `PostgresClient`: the caller runs it (it is a swift-service-lifecycle
/// `Service`), so that the pool starts and stops with the rest of the server.
public final class PostgresMessageStore: MessageStore {
    public let client: PostgresClient
    private let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func append(_ drafts: [MessageDraft]) async throws -> [AppendResult] {
        guard !drafts.isEmpty else { return [] }
        let rooms = drafts.map(\.room.value)
        let nicks = drafts.map(\.nick)
        let texts = drafts.map(\.text)
        let created = drafts.map(\.createdAt)
        let mids = drafts.map { $0.mid ?? "" }
        let rows = try await client.query(
            """
            SELECT r_room, r_id, r_nick, r_text, r_created_at, r_mid, r_is_new
            FROM parley_append(\(rooms), \(nicks), \(texts), \(created), \(mids))
            """,
            logger: logger
        )
        var results: [AppendResult] = []
        results.reserveCapacity(drafts.count)
        for try await (room, id, nick, text, createdAt, mid, isNew) in rows.decode(
            (String, Int64, String, String, Int64, String?, Bool).self
        ) {
            let message = ChatMessage(
                room: RoomName(trusted: room),
                id: id,
                nick: nick,
                text: text,
                createdAt: createdAt,
                mid: mid
            )
            results.append(AppendResult(message: message, isNew: isNew))
        }
        return results
    }

    public func history(of room: RoomName, _ page: HistoryPage) async throws -> HistorySlice {
        // One statement, so the page and the room's newest id come from one snapshot; one row
        // more than asked tells whether the page is truncated. The LEFT JOIN keeps one row (with
        // the newest id) when the page is empty.
        let query: PostgresQuery
        switch page {
        case .latest(let limit):
            query = """
                SELECT coalesce((SELECT last_id FROM rooms WHERE name = \(room.value)), 0), m.id, m.nick, m.text, m.created_at, m.mid
                FROM (SELECT 1) AS one LEFT JOIN LATERAL (
                    SELECT id, nick, text, created_at, mid FROM messages WHERE room = \(room.value)
                    ORDER BY id DESC LIMIT \(limit + 1)) AS m ON true
                """
        case .before(let id, let limit):
            query = """
                SELECT coalesce((SELECT last_id FROM rooms WHERE name = \(room.value)), 0), m.id, m.nick, m.text, m.created_at, m.mid
                FROM (SELECT 1) AS one LEFT JOIN LATERAL (
                    SELECT id, nick, text, created_at, mid FROM messages WHERE room = \(room.value) AND id < \(id)
                    ORDER BY id DESC LIMIT \(limit + 1)) AS m ON true
                """
        case .after(let id, let limit):
            query = """
                SELECT coalesce((SELECT last_id FROM rooms WHERE name = \(room.value)), 0), m.id, m.nick, m.text, m.created_at, m.mid
                FROM (SELECT 1) AS one LEFT JOIN LATERAL (
                    SELECT id, nick, text, created_at, mid FROM messages WHERE room = \(room.value) AND id > \(id)
                    ORDER BY id ASC LIMIT \(limit + 1)) AS m ON true
                """
        }
        var (messages, roomLastID) = try await readPage(query, room: room)
        let truncated = messages.count > page.limit
        if truncated { messages.removeLast() }
        if case .after = page {} else { messages.reverse() }
        return HistorySlice(messages: messages, truncated: truncated, roomLastID: roomLastID)
    }

    /// All rooms in one statement (one snapshot), each page read like ``history(of:_:)``'s
    /// `.after`: one row more than asked tells whether it is truncated.
    public func histories(after starts: [RoomName: Int64], limit: Int) async throws -> [RoomName: HistorySlice] {
        if starts.isEmpty { return [:] }
        let rooms = starts.keys.map(\.value)
        let afters = rooms.map { starts[RoomName(trusted: $0)] ?? 0 }
        let rows = try await client.query(
            """
            SELECT t.room, coalesce(r.last_id, 0), m.id, m.nick, m.text, m.created_at, m.mid
            FROM unnest(\(rooms)::text[], \(afters)::bigint[]) AS t(room, after)
            LEFT JOIN rooms r ON r.name = t.room
            LEFT JOIN LATERAL (
                SELECT id, nick, text, created_at, mid FROM messages WHERE room = t.room AND id > t.after
                ORDER BY id ASC LIMIT \(limit + 1)) AS m ON true
            ORDER BY t.room, m.id
            """,
            logger: logger
        )
        var pages: [RoomName: (messages: [ChatMessage], lastID: Int64)] = [:]
        for try await (name, lastID, id, nick, text, createdAt, mid) in rows.decode(
            (String, Int64, Int64?, String?, String?, Int64?, String?).self
        ) {
            let room = RoomName(trusted: name)
            pages[room, default: ([], lastID)].lastID = lastID
            guard let id, let nick, let text, let createdAt else { continue }
            pages[room]?.messages.append(
                ChatMessage(room: room, id: id, nick: nick, text: text, createdAt: createdAt, mid: mid)
            )
        }
        return pages.mapValues { page in
            let truncated = page.messages.count > limit
            return HistorySlice(
                messages: truncated ? Array(page.messages.dropLast()) : page.messages,
                truncated: truncated,
                roomLastID: page.lastID
            )
        }
    }

    public func rooms() async throws -> [StoredRoom] {
        let rows = try await client.query(
            """
            SELECT name, last_id, (SELECT count(*) FROM messages WHERE room = rooms.name),
                (SELECT created_at FROM messages WHERE room = rooms.name ORDER BY id DESC LIMIT 1)
            FROM rooms ORDER BY name COLLATE "C"
            """,
            logger: logger
        )
        var rooms: [StoredRoom] = []
        for try await (name, lastID, count, lastMessageAt) in rows.decode((String, Int64, Int64, Int64?).self) {
            rooms.append(
                StoredRoom(
                    name: RoomName(trusted: name),
                    messageCount: Int(count),
                    lastID: lastID,
                    lastMessageAt: lastMessageAt
                )
            )
        }
        return rooms
    }

    public func lastIDs(of rooms: [RoomName]) async throws -> [RoomName: Int64] {
        if rooms.isEmpty { return [:] }
        let rows = try await client.query(
            "SELECT name, last_id FROM rooms WHERE name = ANY(\(rooms.map(\.value)))",
            logger: logger
        )
        var lastIDs: [RoomName: Int64] = [:]
        for try await (name, lastID) in rows.decode((String, Int64).self) {
            lastIDs[RoomName(trusted: name)] = lastID
        }
        return lastIDs
    }

    public func search(in room: RoomName, _ page: SearchPage) async throws -> HistorySlice {
        var bindings = PostgresBindings()
        bindings.append(room.value)
        bindings.append(page.before ?? Int64.max)
        bindings.append(page.limit + 1)
        let match = Self.tsquery(page.query, bindings: &bindings)
        let query = PostgresQuery(
            unsafeSQL: """
                SELECT coalesce((SELECT last_id FROM rooms WHERE name = $1), 0), m.id, m.nick, m.text, m.created_at, m.mid
                FROM (SELECT 1) AS one LEFT JOIN LATERAL (
                    SELECT id, nick, text, created_at, mid FROM messages
                    WHERE room = $1 AND id < $2 AND search @@ (\(match))
                    ORDER BY id DESC LIMIT $3) AS m ON true
                """,
            binds: bindings
        )
        var (messages, roomLastID) = try await readPage(query, room: room)
        let truncated = messages.count > page.limit
        if truncated { messages.removeLast() }
        return HistorySlice(messages: messages.reversed(), truncated: truncated, roomLastID: roomLastID)
    }

    /// A `tsquery` expression for `query`, its words bound as parameters: each word or phrase
    /// through `phraseto_tsquery('simple', …)`, a prefix as `word:*`. PostgreSQL gives `&&` and
    /// `||` one precedence, so the AND groups are parenthesised to keep FTS5's (NOT, then AND,
    /// then OR).
    static func tsquery(_ query: SearchQuery, bindings: inout PostgresBindings) -> String {
        var groups: [[String]] = [[]]
        var negateNext = false
        for term in query.terms {
            switch term {
            case .words(let words, let prefix):
                bindings.append(words)
                let parameter = "$\(bindings.count)"
                var expression =
                    prefix
                    ? "(phraseto_tsquery('simple', \(parameter))::text || ':*')::tsquery"
                    : "phraseto_tsquery('simple', \(parameter))"
                if negateNext { expression = "!!(\(expression))" }
                negateNext = false
                groups[groups.count - 1].append(expression)
            case .and:
                continue
            case .or:
                groups.append([])
            case .not:
                negateNext = true
            }
        }
        return groups.filter { !$0.isEmpty }.map { "(" + $0.joined(separator: " && ") + ")" }
            .joined(separator: " || ")
    }

    private func readPage(_ query: PostgresQuery, room: RoomName) async throws -> ([ChatMessage], Int64) {
        let rows = try await client.query(query, logger: logger)
        var messages: [ChatMessage] = []
        var roomLastID: Int64 = 0
        for try await (lastID, id, nick, text, createdAt, mid) in rows.decode(
            (Int64, Int64?, String?, String?, Int64?, String?).self
        ) {
            roomLastID = lastID
            guard let id, let nick, let text, let createdAt else { continue }
            messages.append(ChatMessage(room: room, id: id, nick: nick, text: text, createdAt: createdAt, mid: mid))
        }
        return (messages, roomLastID)
    }
}
