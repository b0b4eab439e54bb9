public import Foundation

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

    public init(name: String, messageCount: Int, distinctNicks: Int, firstAt: Int64?, lastAt: Int64?, lastID: Int64) {
        self.name = name
        self.messageCount = messageCount
        self.distinctNicks = distinctNicks
        self.firstAt = firstAt
        self.lastAt = lastAt
        self.lastID = lastID
    }
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

    public init(
        messageCount: Int,
        roomCount: Int,
        nickCount: Int,
        firstAt: Int64? = nil,
        lastAt: Int64? = nil,
        perDay: [(day: String, count: Int)],
        busiestRooms: [(name: String, count: Int)],
        busiestNicks: [(name: String, count: Int)],
        databaseBytes: Int64
    ) {
        self.messageCount = messageCount
        self.roomCount = roomCount
        self.nickCount = nickCount
        self.firstAt = firstAt
        self.lastAt = lastAt
        self.perDay = perDay
        self.busiestRooms = busiestRooms
        self.busiestNicks = busiestNicks
        self.databaseBytes = databaseBytes
    }

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

    /// The message on `line` has the id of a different message its room already holds.
    public static func conflict(line: Int, room: String, id: Int64) -> Self {
        Self(line: line, reason: "#\(room) already has a different message with id \(id); nothing was imported")
    }
}

/// The operators' view of a message store: queries across rooms, summaries, import and pruning,
/// whatever the database behind it. The admin commands use only this, so a second backend
/// slots in behind them by implementing it.
public protocol MessageArchive: Sendable {
    /// The messages matching `filter`: the newest `filter.limit` of them, oldest first.
    func messages(_ filter: MessageFilter) async throws -> [ArchivedMessage]

    /// The first `limit` messages matching `filter` whose `seq` lies in
    /// `afterSeq + 1 ... throughSeq`, oldest first. `filter.limit` is ignored.
    func messages(
        _ filter: MessageFilter,
        afterSeq: Int64,
        throughSeq: Int64,
        limit: Int
    ) async throws
        -> [ArchivedMessage]

    /// The highest `seq` stored (0 for an empty log).
    func lastSeq() async throws -> Int64

    /// The names of every room, sorted.
    func roomNames() async throws -> [String]

    /// Every room with its message count, distinct nicks and first and last message time.
    func roomSummaries() async throws -> [RoomSummary]

    /// Totals, messages per local day for the last `days` days, and the `top` busiest rooms
    /// and nicks.
    func statistics(days: Int, top: Int, now: Date) async throws -> ArchiveStatistics

    /// Stores `messages` in one transaction, keeping their rooms, ids and `mid`s; all or
    /// nothing. Returns how many were added and how many were already there.
    func importMessages(_ messages: [ArchivedMessage], lines: [Int]) async throws -> (added: Int, skipped: Int)

    /// Deletes (or with `dryRun` counts) the messages older than `cutoff`, in batches.
    func prune(olderThan cutoff: Int64, room: RoomName?, dryRun: Bool, batch: Int) async throws -> Int
}

extension MessageArchive {
    /// Calls `body` with the messages matching `filter` whose `seq` lies in
    /// `afterSeq + 1 ... throughSeq`, oldest first, in batches of at most `batch` (each batch
    /// read on its own, so memory stays flat however many match). `filter.limit` is ignored.
    public func scan(
        _ filter: MessageFilter,
        afterSeq: Int64,
        throughSeq: Int64,
        batch: Int = 10_000,
        _ body: ([ArchivedMessage]) throws -> Void
    ) async throws {
        var cursor = afterSeq
        while cursor < throughSeq {
            let messages = try await messages(filter, afterSeq: cursor, throughSeq: throughSeq, limit: batch)
            if !messages.isEmpty { try body(messages) }
            guard messages.count == batch, let last = messages.last else { return }
            cursor = last.seq
        }
    }

    public func statistics(days: Int, top: Int) async throws -> ArchiveStatistics {
        try await statistics(days: days, top: top, now: Date())
    }

    public func prune(olderThan cutoff: Int64, room: RoomName?, dryRun: Bool) async throws -> Int {
        try await prune(olderThan: cutoff, room: room, dryRun: dryRun, batch: 5_000)
    }
}
