public import NIOCore
public import ParleyCore

/// Events the server sends, each encoded once into the bytes of one text frame.
///
/// A broadcast `message` is encoded once and the same buffer goes to every recipient.
public enum ServerEvent {
    public static func joined(
        room: RoomName,
        nick: Nick,
        members: [String],
        session: String?,
        ref: String?
    ) -> ByteBuffer {
        var json = JSONWriter()
        json.beginObject()
        json.field("type", "joined")
        json.field("room", room.value)
        json.field("nick", nick.value)
        json.beginArray("members")
        for member in members { json.element(member) }
        json.endArray()
        json.optionalField("session", session)
        json.optionalField("ref", ref)
        json.endObject()
        return json.buffer
    }

    public static func history(room: RoomName, slice: HistorySlice, ref: String?) -> ByteBuffer {
        var json = JSONWriter(capacity: 64 + slice.messages.count * 128)
        json.beginObject()
        json.field("type", "history")
        json.field("room", room.value)
        writePage(slice, ref: ref, into: &json)
        return json.buffer
    }

    /// A `history` event made of `message` events encoded before (the room's recent messages
    /// kept in memory), oldest first: the same bytes as ``history(room:slice:ref:)`` writes.
    static func history(room: RoomName, encoded messages: [ByteBuffer], truncated: Bool, ref: String?) -> ByteBuffer {
        var json = JSONWriter(capacity: 96 + messages.reduce(0) { $0 + $1.readableBytes + 1 })
        json.beginObject()
        json.field("type", "history")
        json.field("room", room.value)
        json.beginArray("messages")
        for message in messages { json.element(encoded: message) }
        json.endArray()
        json.field("truncated", truncated)
        json.optionalField("ref", ref)
        json.endObject()
        return json.buffer
    }

    /// The answer to a `search`: matching messages, oldest first; `truncated` when older matches
    /// remain (ask again with `before` the first id).
    public static func searchResults(room: RoomName, query: String, slice: HistorySlice, ref: String?) -> ByteBuffer {
        var json = JSONWriter(capacity: 96 + slice.messages.count * 128)
        json.beginObject()
        json.field("type", "search")
        json.field("room", room.value)
        json.field("query", query)
        writePage(slice, ref: ref, into: &json)
        return json.buffer
    }

    /// The end of a `history` or `search` event: its messages, `truncated` and `ref`.
    private static func writePage(_ slice: HistorySlice, ref: String?, into json: inout JSONWriter) {
        json.beginArray("messages")
        for message in slice.messages { writeMessage(message, into: &json) }
        json.endArray()
        json.field("truncated", slice.truncated)
        json.optionalField("ref", ref)
        json.endObject()
    }

    /// The room directory of `GET /api/rooms`: `{"rooms":[{"name","members","messages",
    /// "last_message_at"?}]}`, in the order given.
    public static func roomDirectory(_ rooms: [RoomListing]) -> ByteBuffer {
        var json = JSONWriter(capacity: 16 + rooms.count * 96)
        json.beginObject()
        json.beginArray("rooms")
        for room in rooms {
            json.beginObject()
            json.field("name", room.name.value)
            json.field("members", Int64(room.members))
            json.field("messages", Int64(room.messages))
            if let last = room.lastMessageAt { json.timestampField("last_message_at", milliseconds: last) }
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.buffer
    }

    public static func message(_ message: ChatMessage) -> ByteBuffer {
        var json = JSONWriter(capacity: 96 + message.text.utf8.count)
        writeMessage(message, into: &json)
        return json.buffer
    }

    public static func ack(id: Int64, ref: String?) -> ByteBuffer {
        var json = JSONWriter(capacity: 48)
        json.beginObject()
        json.field("type", "ack")
        json.optionalField("ref", ref)
        json.field("id", id)
        json.endObject()
        return json.buffer
    }

    public static func left(room: RoomName, ref: String?) -> ByteBuffer {
        var json = JSONWriter(capacity: 48)
        json.beginObject()
        json.field("type", "left")
        json.field("room", room.value)
        json.optionalField("ref", ref)
        json.endObject()
        return json.buffer
    }

    public static func pong(ref: String?) -> ByteBuffer {
        var json = JSONWriter(capacity: 32)
        json.beginObject()
        json.field("type", "pong")
        json.optionalField("ref", ref)
        json.endObject()
        return json.buffer
    }

    /// Someone joined or left a room (`event` is `join` or `leave`).
    public static func presence(room: RoomName, nick: Nick, event: String) -> ByteBuffer {
        var json = JSONWriter(capacity: 64)
        json.beginObject()
        json.field("type", "presence")
        json.field("room", room.value)
        json.field("nick", nick.value)
        json.field("event", event)
        json.endObject()
        return json.buffer
    }

    public static func error(_ error: ChatError, ref: String?) -> ByteBuffer {
        var json = JSONWriter(capacity: 96)
        json.beginObject()
        json.field("type", "error")
        json.field("code", error.code.rawValue)
        json.field("message", error.message)
        if let retryAfter = error.retryAfter {
            let (seconds, attoseconds) = retryAfter.components
            json.field("retry_after_ms", seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        }
        json.optionalField("ref", ref)
        json.endObject()
        return json.buffer
    }

    /// `string` as a JSON string literal, quotes included.
    public static func jsonString(_ string: String) -> String {
        var json = JSONWriter(capacity: string.utf8.count + 2)
        json.element(string)
        return String(buffer: json.buffer)
    }

    /// A `message` object: the live event, an element of `history`, and of the HTTP API's pages.
    static func writeMessage(_ message: ChatMessage, into json: inout JSONWriter) {
        json.beginObject()
        json.field("type", "message")
        json.field("room", message.room.value)
        json.field("id", message.id)
        json.field("nick", message.nick)
        json.field("text", message.text)
        json.timestampField("ts", milliseconds: message.createdAt)
        if let mid = message.mid { json.field("mid", mid) }
        json.endObject()
    }
}

/// One room as the directory lists it: who is there now, how much it holds, when it last spoke.
public struct RoomListing: Sendable, Equatable {
    public var name: RoomName
    public var members: Int
    public var messages: Int
    public var lastMessageAt: Int64?

    public init(name: RoomName, members: Int, messages: Int, lastMessageAt: Int64?) {
        self.name = name
        self.members = members
        self.messages = messages
        self.lastMessageAt = lastMessageAt
    }
}
