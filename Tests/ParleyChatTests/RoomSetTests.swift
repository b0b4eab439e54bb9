import ParleyCore
import Testing

@testable import ParleyChat

/// The rooms of one connection, the first kept inline: it must behave as a `Set` whatever the
/// order of joins and leaves.
@Suite struct RoomSetTests {
    @Test func behavesAsASetThroughJoinsAndLeaves() {
        let names = ["a", "b", "c", "d"].map { RoomName($0)! }
        // Every sequence of 5 joins or leaves of 4 rooms (32,768), against Set.
        var sequences: [[(insert: Bool, room: RoomName)]] = [[]]
        for _ in 0..<5 {
            sequences = sequences.flatMap { sequence in
                names.flatMap { room in [sequence + [(true, room)], sequence + [(false, room)]] }
            }
        }
        for sequence in sequences {
            var rooms: RoomSet = []
            var expected: Set<RoomName> = []
            for (insert, room) in sequence {
                if insert {
                    rooms.insert(room)
                    expected.insert(room)
                } else {
                    rooms.remove(room)
                    expected.remove(room)
                }
                #expect(Set(rooms) == expected)
                #expect(rooms.count == expected.count && rooms.isEmpty == expected.isEmpty)
                #expect(names.allSatisfy { rooms.contains($0) == expected.contains($0) })
            }
        }
    }
}
