import ParleyCore

/// The doorbell one node rings after it changed something other nodes show: which rooms reached
/// which ids, whose membership changed, which sessions it took over, and who rang.
///
/// A notification is only a hint to read the database: the rows are the truth. The payload is
/// plain text so that `psql`'s `LISTEN` shows it readably: the node's id on the first line, then
/// one line per item: `ID ROOM` (the room reached message ID), `p ROOM` (its members changed)
/// or `m KEY` (the session of the nick with case-folded KEY moved to the ringing node).
struct RoomNotification: Equatable {
    /// PostgreSQL's NOTIFY channel for it.
    static let channel = "parley_rooms"
    /// PostgreSQL refuses payloads of 8,000 bytes or more; a larger ring is split.
    static let maxPayloadBytes = 7_000

    var node: String
    var rooms: [RoomName: Int64] = [:]
    var presence: Set<RoomName> = []
    var moved: Set<String> = []

    var isEmpty: Bool { rooms.isEmpty && presence.isEmpty && moved.isEmpty }

    /// Folds a later ring into this one.
    mutating func merge(_ other: RoomNotification) {
        rooms.merge(other.rooms, uniquingKeysWith: max)
        presence.formUnion(other.presence)
        moved.formUnion(other.moved)
    }

    /// The payloads for this ring, each under ``maxPayloadBytes``, items in a stable order.
    func payloads() -> [String] {
        let lines =
            rooms.sorted(by: { $0.key < $1.key }).map { "\($0.value) \($0.key.value)" }
            + presence.sorted().map { "p \($0.value)" }
            + moved.sorted().map { "m \($0)" }
        var payloads: [String] = []
        var current = node
        for line in lines {
            if current.utf8.count + 1 + line.utf8.count > Self.maxPayloadBytes {
                payloads.append(current)
                current = node
            }
            current += "\n" + line
        }
        if current != node { payloads.append(current) }
        return payloads
    }

    /// Reads a payload; lines that are not well formed are skipped (the channel is open to any
    /// client of the database).
    init?(payload: String) {
        var lines = payload.split(separator: "\n", omittingEmptySubsequences: true)[...]
        guard let node = lines.popFirst() else { return nil }
        self.node = String(node)
        for line in lines {
            guard let space = line.firstIndex(of: " ") else { continue }
            let head = line[..<space]
            let rest = String(line[line.index(after: space)...])
            switch head {
            case "p":
                if let room = RoomName(rest) { presence.insert(room) }
            case "m":
                if let nick = Nick(rest) { moved.insert(nick.key) }
            default:
                guard let lastID = Int64(head), lastID > 0, let room = RoomName(rest) else { continue }
                rooms[room] = max(rooms[room] ?? 0, lastID)
            }
        }
    }

    init(node: String, rooms: [RoomName: Int64] = [:], presence: Set<RoomName> = [], moved: Set<String> = []) {
        self.node = node
        self.rooms = rooms
        self.presence = presence
        self.moved = moved
    }
}
