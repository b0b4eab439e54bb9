import ParleyCore

/// The rooms one connection is in. Most connections are in one room, which is kept inline: a
/// `Set` is allocated only for a second one. (A `Set` of one room is a heap block of about
/// 100 bytes, kept twice per connection, once by the session and once by the hub: a
/// twentieth of what an idle connection costs.)
struct RoomSet: Sequence, ExpressibleByArrayLiteral {
    private var first: RoomName?
    private var others: Set<RoomName> = []

    init() {}

    init(arrayLiteral rooms: RoomName...) {
        for room in rooms { insert(room) }
    }

    var count: Int { (first == nil ? 0 : 1) + others.count }
    var isEmpty: Bool { first == nil }

    func contains(_ room: RoomName) -> Bool {
        first == room || (!others.isEmpty && others.contains(room))
    }

    mutating func insert(_ room: RoomName) {
        if first == nil {
            first = room
        } else if first != room {
            others.insert(room)
        }
    }

    mutating func remove(_ room: RoomName) {
        if first == room {
            first = others.popFirst()
        } else {
            others.remove(room)
        }
        if others.isEmpty { others = [] }  // frees the set's storage
    }

    struct Iterator: IteratorProtocol {
        fileprivate var first: RoomName?
        fileprivate var others: Set<RoomName>.Iterator

        mutating func next() -> RoomName? {
            if let room = first {
                first = nil
                return room
            }
            return others.next()
        }
    }

    func makeIterator() -> Iterator {
        Iterator(first: first, others: others.makeIterator())
    }
}
