import NIOCore
import ParleyCore

/// The hub's bookkeeping: what it knows of each connection, session, room and member.
extension ChatHub {
    /// Kept for every open connection, so kept small: its session is found through its nick,
    /// and when it opened only until its first join (``ChatHub/unjoined``).
    struct Connection {
        let outbox: Outbox
        /// Set with the session on the first join; kept by a connection that was replaced.
        var nick: Nick?
        var rooms = RoomSet()
        /// A newer connection resumed this one's session; this one is closing.
        var isReplaced = false
    }

    /// A nick's claim, which outlives a dropped connection for the grace period.
    final class Session {
        let token: String
        let nick: Nick
        /// The open connection that holds the session, if any.
        var liveConnection: ConnectionID?
        /// Rooms whose member is kept for the session: room → the connection it was joined by.
        var held: [RoomName: ConnectionID] = [:]
        /// Rooms the session is a member of in the cluster's directory with no member here yet:
        /// it was resumed from another node, and the client has not joined them again.
        var elsewhere: Set<RoomName> = []
        var releaseTimer: Task<Void, Never>?
        /// Tells a timer that fires late that a newer one replaced it.
        var generation = 0

        init(token: String, nick: Nick, liveConnection: ConnectionID) {
            self.token = token
            self.nick = nick
            self.liveConnection = liveConnection
        }

        /// 192 random bits from the system's secure generator, as 32 URL-safe characters.
        static func makeToken() -> String {
            var generator = SystemRandomNumberGenerator()
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(32)
            for _ in 0..<4 {
                var word = generator.next() as UInt64
                for _ in 0..<8 {
                    bytes.append(alphabet[Int(word & 63)])
                    word >>= 6
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Members are reference types so that fan-out can update each one's watermark in place.
    final class Room {
        var members: [ConnectionID: Member] = [:]
        /// The newest id the room is known to have in the store: from commits, notifications,
        /// history reads and polls.
        var knownLastID: Int64 = 0
        var catchUp = CatchUpState.idle
        /// In a cluster, the room's members as the directory last listed them (this node's
        /// included), by nick key.
        var listed: [String: Nick] = [:]
        /// Keys this node took out of the room whose exit the directory has not stored yet: a
        /// listing read before it still shows them.
        var leaving: Set<String> = []
        /// The room's newest messages, encoded, for joins and replays (see ``RecentMessages``).
        var recent = RecentMessages()
        /// When ``recent`` was last added to or read (the hub's ``ChatHub/recentClock``): the
        /// coldest room's messages are the first forgotten when all rooms' take too much memory.
        var recentUse: UInt64 = 0
    }

    /// Whether the store is being read for what a room's members miss.
    enum CatchUpState {
        case idle
        /// Requested: the room is in ``RoomCatchUp``'s queue.
        case queued
        /// ``RoomCatchUp`` is reading it; new requests are folded into that run.
        case running
    }

    final class Member {
        let nick: Nick
        let outbox: Outbox
        /// The newest message id this member was sent or replayed: it has every message of the
        /// room up to it (or was told, by a truncated history, to page for them). The next
        /// message it is sent is always `lastSentID + 1`.
        var lastSentID: Int64 = 0
        /// While joining: live messages collected until the history has been sent.
        var pending: [(Int64, ByteBuffer)]? = []
        /// Whether the other members know about this member (its first join completed).
        var isVisible = false
        /// Whether messages go to it now: it has joined, and is not held for a session.
        var isReceiving: Bool { pending == nil && !isHeld }
        /// Kept for a session whose connection dropped or was replaced: nothing is sent to it.
        var isHeld = false
        /// Frames were queued for it during the current fan-out and its writer is to be woken.
        var needsFlush = false

        init(nick: Nick, outbox: Outbox) {
            self.nick = nick
            self.outbox = outbox
        }
    }
}
