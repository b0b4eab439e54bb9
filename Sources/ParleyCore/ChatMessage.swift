/// A stored chat message. `id` is the message's position in its room: the ids of a room are
/// consecutive integers starting at 1, so a client can tell a gap from a quiet room.
public struct ChatMessage: Sendable, Equatable {
    public var room: RoomName
    public var id: Int64
    public var nick: String
    public var text: String
    /// Milliseconds since 1970-01-01 UTC, assigned when the message was committed.
    public var createdAt: Int64
    /// The id its sender chose for it (`mid`), if any: unique within the room.
    public var mid: String?

    public init(room: RoomName, id: Int64, nick: String, text: String, createdAt: Int64, mid: String? = nil) {
        self.room = room
        self.id = id
        self.nick = nick
        self.text = text
        self.createdAt = createdAt
        self.mid = mid
    }
}

/// A message accepted from a client and not yet stored: the store assigns its id.
public struct MessageDraft: Sendable, Equatable {
    public var room: RoomName
    public var nick: String
    public var text: String
    public var createdAt: Int64
    /// The sender's id for the message; a draft whose `mid` is already stored in its room is
    /// not stored again.
    public var mid: String?

    public init(room: RoomName, nick: String, text: String, createdAt: Int64, mid: String? = nil) {
        self.room = room
        self.nick = nick
        self.text = text
        self.createdAt = createdAt
        self.mid = mid
    }
}

/// What became of a draft: stored now, or found stored already under its `mid`.
public struct AppendResult: Sendable, Equatable {
    /// The stored message: the new one, or the one stored earlier under the same `mid`.
    public var message: ChatMessage
    /// `false` when the draft repeated a `mid` and nothing new was stored.
    public var isNew: Bool

    public init(message: ChatMessage, isNew: Bool) {
        self.message = message
        self.isNew = isNew
    }
}
