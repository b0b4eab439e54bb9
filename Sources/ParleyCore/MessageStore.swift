/// Which slice of a room's history to read.
public enum HistoryPage: Sendable, Equatable {
    /// The newest `limit` messages.
    case latest(limit: Int)
    /// The newest `limit` messages with an id below `id`.
    case before(id: Int64, limit: Int)
    /// The oldest `limit` messages with an id above `id`.
    case after(id: Int64, limit: Int)

    public var limit: Int {
        switch self {
        case .latest(let limit), .before(_, let limit), .after(_, let limit): limit
        }
    }
}

/// A page of history, oldest message first.
public struct HistorySlice: Sendable, Equatable {
    public var messages: [ChatMessage]
    /// More messages lie beyond the page in the direction it was read: older ones for
    /// ``HistoryPage/latest(limit:)`` and ``HistoryPage/before(id:limit:)``, newer ones
    /// for ``HistoryPage/after(id:limit:)``.
    public var truncated: Bool
    /// The id of the newest message the room had when the page was read (0 for a room that
    /// never had one), whatever page was asked for.
    public var roomLastID: Int64

    public init(messages: [ChatMessage], truncated: Bool, roomLastID: Int64) {
        self.messages = messages
        self.truncated = truncated
        self.roomLastID = roomLastID
    }
}

/// What the store knows about one room.
public struct StoredRoom: Sendable, Equatable {
    public var name: RoomName
    public var messageCount: Int
    /// The id of the newest message ever stored in the room (0 when none).
    public var lastID: Int64
    /// When the newest message still stored was written (milliseconds since 1970), if any.
    public var lastMessageAt: Int64?

    public init(name: RoomName, messageCount: Int, lastID: Int64, lastMessageAt: Int64? = nil) {
        self.name = name
        self.messageCount = messageCount
        self.lastID = lastID
        self.lastMessageAt = lastMessageAt
    }
}

/// A page of full-text search results in one room.
public struct SearchPage: Sendable, Equatable {
    /// The most results one page may hold, and the default.
    public static let maxLimit = 50
    public static let defaultLimit = 20

    public var query: SearchQuery
    /// Only matches with an id below this one (the next page of older matches).
    public var before: Int64?
    public var limit: Int

    public init(query: SearchQuery, before: Int64? = nil, limit: Int = SearchPage.defaultLimit) {
        self.query = query
        self.before = before
        self.limit = limit
    }
}

/// Durable chat history.
///
/// Implementations assign each room's ids in sequence and make a batch durable before `append`
/// returns: the chat server acknowledges and broadcasts a message only after that.
public protocol MessageStore: Sendable {
    /// Stores `drafts` in one transaction, in order, and returns one result per draft: the
    /// message with its id, or, for a draft whose `mid` its room already holds, that message.
    func append(_ drafts: [MessageDraft]) async throws -> [AppendResult]

    /// Reads one page of a room's history, and the room's newest id, from one snapshot.
    func history(of room: RoomName, _ page: HistoryPage) async throws -> HistorySlice

    /// Every room that has ever stored a message.
    func rooms() async throws -> [StoredRoom]

    /// The id of the newest message ever stored in each of `rooms` that has one, read from one
    /// snapshot (rooms that never stored a message are left out). A cluster node polls this for
    /// the rooms its members are in, in case it missed a notification.
    func lastIDs(of rooms: [RoomName]) async throws -> [RoomName: Int64]

    /// The newest messages of `room` that match the page's query, oldest first; `truncated` says
    /// that older matches remain.
    func search(in room: RoomName, _ page: SearchPage) async throws -> HistorySlice

    /// For each room of `starts`, the page `.after(id: start, limit: limit)`: what a cluster node
    /// reads to catch its members up on several rooms at once. A store where a query costs a
    /// round trip reads them in one.
    func histories(after starts: [RoomName: Int64], limit: Int) async throws -> [RoomName: HistorySlice]

    /// Whether ``outsideRevision()`` tells when another program changed the store. The chat
    /// keeps rooms' recent messages in memory only over a store that can tell: an operator's
    /// `parley prune` must not leave pruned messages in joins' replays.
    var tracksOutsideWrites: Bool { get }

    /// A number that changes whenever a program other than this server (an operator's
    /// `parley prune` or `parley import`) commits to the store.
    func outsideRevision() async throws -> Int64
}

extension MessageStore {
    public var tracksOutsideWrites: Bool { false }

    public func outsideRevision() async throws -> Int64 { 0 }

    public func histories(after starts: [RoomName: Int64], limit: Int) async throws -> [RoomName: HistorySlice] {
        var slices: [RoomName: HistorySlice] = [:]
        for (room, start) in starts {
            slices[room] = try await history(of: room, .after(id: start, limit: limit))
        }
        return slices
    }
}
