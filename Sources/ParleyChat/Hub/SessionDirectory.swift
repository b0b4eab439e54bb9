public import ParleyCore

/// Where sessions, their nicks and their rooms are shared when several servers serve one chat:
/// a nick one node's session holds cannot be claimed on another, a session can be resumed on
/// any node, and every node sees who is in a room.
///
/// The hub still decides among its own connections; the directory is asked before the hub opens
/// or adopts a session and before a member joins, and told when a member leaves or a session
/// ends. Operations take effect in the order they were made.
public protocol SessionDirectory: Sendable {
    /// Claims `nick` for a new session of this node with resume token `token`; throws
    /// `nick_taken` when any node holds it, `unavailable` when the directory cannot be reached.
    func claim(_ nick: Nick, session token: String) async throws(ChatError)

    /// Moves the session with resume token `token` to this node, from the node that served it
    /// (which then drops it without a leave) or from a node that died within the grace period.
    /// - Returns: the session's nick and the rooms it is in, or `nil` when no node has it.
    func resume(_ token: String) async throws(ChatError) -> ResumedSession?

    /// Ends a session of this node: its nick becomes free and it leaves its rooms.
    /// Never waits.
    func release(_ nick: Nick)

    /// Makes `nick` a member of `room` for every node, and hands the hub the room's members
    /// (``ChatHub/membersRead(_:_:)``) before returning.
    func enter(_ room: RoomName, nick: Nick) async throws(ChatError)

    /// Takes `nick` out of `room` for every node; once done, tells the hub
    /// (``ChatHub/exitStored(_:key:)``). Never waits.
    func exit(_ room: RoomName, nick: Nick)
}

/// A session another node served, now this node's (see ``SessionDirectory/resume(_:)``).
public struct ResumedSession: Sendable {
    public var nick: Nick
    /// The rooms the session is a member of.
    public var rooms: [RoomName]

    public init(nick: Nick, rooms: [RoomName]) {
        self.nick = nick
        self.rooms = rooms
    }
}
