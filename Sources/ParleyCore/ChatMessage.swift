/// A stored chat message. `id` is the message's position in its room: the ids of a room are
/// consecutive integers starting at 1, so a client can tell a gap from a quiet room.
public struct ChatMessage: Sendable, Equatable {
    public var room: RoomName
    public var id: Int64
    public var nick: String
    public var text: String
    /// Milliseconds since 1970-01-01 UTC, assigned when the message was committed.
    public var createdAt: Int64

    public init(room: RoomName, id: Int64, nick: String, text: String, createdAt: Int64) {
        self.room = room
        self.id = id
        self.nick = nick
        self.text = text
        self.createdAt = createdAt
    }
}

/// A message accepted from a client and not yet stored: the store assigns its id.
public struct MessageDraft: Sendable, Equatable {
    public var room: RoomName
    public var nick: String
    public var text: String
    public var createdAt: Int64

    public init(room: RoomName, nick: String, text: String, createdAt: Int64) {
        self.room = room
        self.nick = nick
        self.text = text
        self.createdAt = createdAt
    }
}
