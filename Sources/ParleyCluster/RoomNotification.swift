import ParleyCore

/// The doorbell one node rings after a commit: which rooms reached which ids, and who rang.
///
/// A notification is only a hint to read the store: the rooms' rows are the truth. The
/// payload is plain text so that `psql`'s `LISTEN` shows it readably: the node's id on the
/// first line, then one `ID ROOM` line per room.
struct RoomNotification: Equatable {
    /// PostgreSQL's NOTIFY channel for it.
    static let channel = "parley_rooms"
    /// PostgreSQL refuses payloads of 8,000 bytes or more; a larger ring is split.
    static let maxPayloadBytes = 7_000

    var node: String
    var rooms: [RoomName: Int64]

    /// The payloads for `rooms`, each under ``maxPayloadBytes``, rooms in name order.
    static func payloads(node: String, rooms: [RoomName: Int64]) -> [String] {
        var payloads: [String] = []
        var current = node
        for (room, lastID) in rooms.sorted(by: { $0.key < $1.key }) {
            let line = "\n\(lastID) \(room.value)"
            if current.utf8.count + line.utf8.count > maxPayloadBytes {
                payloads.append(current)
                current = node
            }
            current += line
        }
        if current != node { payloads.append(current) }
        return payloads
    }

    /// Reads a payload; lines that are not `ID ROOM` with a valid room name are skipped (the
    /// channel is open to any client of the database).
    init?(payload: String) {
        var lines = payload.split(separator: "\n", omittingEmptySubsequences: true)[...]
        guard let node = lines.popFirst() else { return nil }
        self.node = String(node)
        rooms = [:]
        for line in lines {
            guard let space = line.firstIndex(of: " "), let lastID = Int64(line[..<space]), lastID > 0,
                let room = RoomName(String(line[line.index(after: space)...]))
            else { continue }
            rooms[room] = max(rooms[room] ?? 0, lastID)
        }
    }

    init(node: String, rooms: [RoomName: Int64]) {
        self.node = node
        self.rooms = rooms
    }
}
