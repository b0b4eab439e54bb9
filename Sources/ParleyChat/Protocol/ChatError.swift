import ParleyCore

/// An error reply: a machine-readable code and a sentence a person understands.
public struct ChatError: Error, Equatable, Sendable {
    /// The `code` field of an `error` event. docs/PROTOCOL.md lists when each is sent.
    public enum Code: String, Sendable, CaseIterable {
        case badRequest = "bad_request"
        case invalidNick = "invalid_nick"
        case invalidRoom = "invalid_room"
        case invalidText = "invalid_text"
        case tooLarge = "too_large"
        case notInRoom = "not_in_room"
        case nickTaken = "nick_taken"
        case tooManyRooms = "too_many_rooms"
        case roomFull = "room_full"
        case rateLimited = "rate_limited"
        case unavailable = "unavailable"
        /// The HTTP transport: a command `POST`ed for an event stream that is not open.
        case unknownStream = "unknown_stream"
    }

    public var code: Code
    public var message: String
    /// For `rate_limited`: when the command would be accepted again.
    public var retryAfter: Duration?

    public init(_ code: Code, _ message: String, retryAfter: Duration? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public static func badRequest(_ message: String) -> ChatError { ChatError(.badRequest, message) }

    /// The room-name rule, wherever a room is named.
    public static let invalidRoomName = ChatError(
        .invalidRoom,
        "A room name is 1-\(RoomName.maxLength) letters, digits, \"_\" or \"-\"."
    )
}
