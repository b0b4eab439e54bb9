import Foundation
import Logging
import NIOCore
import ParleyChat
import ParleyCore
import ParleyStore
import Testing

/// A connection registered with the hub, and the frames written to it, decoded.
struct Peer {
    let id: ConnectionID
    private var frames: AsyncStream<ByteBuffer>.Iterator

    /// Drains `drain` the way a transport does, into a stream the test reads.
    init(id: ConnectionID, drain: Outbox.Drain) {
        self.id = id
        let (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        drain.push {
            while let frames = drain.takeFrames() {
                for frame in frames {
                    continuation.yield(frame)
                    drain.wrote(frame.readableBytes)
                }
            }
        } end: { _ in
            continuation.finish()
        }
        frames = stream.makeAsyncIterator()
    }

    mutating func next() async throws -> [String: Any] {
        guard let buffer = await frames.next() else { throw Failure("outbox ended") }
        return try #require(JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The commit pipeline and the hub over a real SQLite store, without a transport: what each
/// connection's outbox receives, frame by frame.
@Suite struct PipelineAndHubTests {
    let store: SQLiteMessageStore
    let hub = ChatHub()
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-chat-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try SQLiteMessageStore(path: directory.appendingPathComponent("chat.sqlite").path)
    }

    static var logger: Logger {
        var logger = Logger(label: "parley-test")
        logger.logLevel = .warning
        return logger
    }

    var room: RoomName { RoomName("pipe")! }

    func connect() async throws -> Peer {
        let (outbox, drain) = Outbox.make(maxQueuedBytes: 1 << 30)
        let id = try #require(await hub.connect(outbox: outbox))
        return Peer(id: id, drain: drain)
    }

    @Test func concurrentSaysAreGroupCommittedAndAckedInOrder() async throws {
        let pipeline = CommitPipeline(store: store, hub: hub, logger: Self.logger)
        let runner = Task { try await pipeline.run() }
        defer { runner.cancel() }
        var sender = try await connect()
        let senderID = sender.id
        let room = self.room
        let nick = try await hub.beginJoin(senderID, room: room, nick: Nick("sender"))
        let empty = HistorySlice(messages: [], truncated: false, roomLastID: 0)
        await hub.completeJoin(senderID, room: room, history: empty, ref: nil)
        _ = try await sender.next()  // joined
        _ = try await sender.next()  // history

        let count = 2000
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for index in stride(from: worker, to: count, by: 4) {
                        _ = await pipeline.submit(
                            room: room,
                            nick: nick,
                            text: try! MessageText.validate("m\(index)").get(),
                            ack: AckTarget(connection: senderID, ref: "\(index)")
                        )
                    }
                }
            }
        }
        await pipeline.flush()

        // Each message, then its ack, in id order.
        for expected in 1...Int64(count) {
            let message = try await sender.next()
            #expect(message["type"] as? String == "message")
            #expect(message["id"] as? Int64 == expected)
            let ack = try await sender.next()
            #expect(ack["type"] as? String == "ack")
            #expect(ack["id"] as? Int64 == expected)
        }
        let stored = try await store.history(of: room, .after(id: 0, limit: 5000)).messages
        #expect(stored.map(\.id) == Array(1...Int64(count)))
        #expect(Set(stored.map(\.text)).count == count)
        let statistics = await pipeline.statistics
        #expect(statistics.messages == count)
        // Concurrent says share transactions.
        #expect(statistics.batches < count)
    }

    /// Messages committed before the history read are in the replayed history, whether their
    /// live delivery happens while the member is joining or after; they must not come again.
    /// Messages committed after the read arrive live, in order.
    @Test func joinHandoffSkipsWhatTheHistoryHeld() async throws {
        var joiner = try await connect()
        let room = self.room
        let ack = AckTarget(connection: 0, ref: nil)  // the sender is not part of this test
        func append(_ text: String) async throws -> AppendResult {
            try await store.append([MessageDraft(room: room, nick: "writer", text: text, createdAt: 1)])[0]
        }
        let a = try await append("a")
        _ = try await hub.beginJoin(joiner.id, room: room, nick: Nick("joiner"))
        let b = try await append("b")
        let history = try await store.history(of: room, .latest(limit: 50))
        let c = try await append("c")
        await hub.deliver([(a, ack)])  // collected while joining
        await hub.completeJoin(joiner.id, room: room, history: history, ref: "j")
        await hub.deliver([(b, ack), (c, ack)])  // b after the join completed
        let d = try await append("d")
        await hub.deliver([(d, ack)])

        let joined = try await joiner.next()
        #expect(joined["type"] as? String == "joined")
        #expect(joined["ref"] as? String == "j")
        let replay = try await joiner.next()
        let replayed = try #require(replay["messages"] as? [[String: Any]])
        #expect(replayed.map { $0["text"] as? String } == ["a", "b"])
        // Only c and d are new, in order; neither a nor b came twice.
        #expect(try await joiner.next()["text"] as? String == "c")
        #expect(try await joiner.next()["text"] as? String == "d")
    }
}

/// The hub's one path for messages it did not commit itself (another node's, in a cluster): "the
/// room reached id N" makes it read what each member misses from the store and send it in order.
@Suite struct RoomCatchUpTests {
    @Test func messagesCommittedElsewhereArriveInOrderWithoutGapsOrDuplicates() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "parley-chat-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("chat.sqlite").path
        let store = try SQLiteMessageStore(path: path)
        let otherNode = try SQLiteMessageStore(path: path)  // another writer of the same rooms
        let chat = ChatService(store: store, logger: PipelineAndHubTests.logger)
        let catchUp = Task { try await chat.catchUpService.run() }
        defer { catchUp.cancel() }
        let room = RoomName("shared")!
        let ack = AckTarget(connection: 0, ref: nil)
        func appendElsewhere(_ text: String) async throws -> AppendResult {
            try await otherNode.append([MessageDraft(room: room, nick: "far", text: text, createdAt: 1)])[0]
        }

        let (outbox, drain) = Outbox.make(maxQueuedBytes: 1 << 30)
        var member = Peer(id: try #require(await chat.hub.connect(outbox: outbox)), drain: drain)
        _ = try await chat.hub.beginJoin(member.id, room: room, nick: Nick("near"))
        let history = try await store.history(of: room, .latest(limit: 50))
        await chat.hub.completeJoin(member.id, room: room, history: history, ref: nil)
        _ = try await member.next()  // joined
        _ = try await member.next()  // history

        // Delivering id 3 alone would skip 1 and 2: the hub reads them first.
        _ = try await appendElsewhere("one")
        _ = try await appendElsewhere("two")
        let three = try await appendElsewhere("three")
        await chat.hub.deliver([(three, ack)])
        // A notification that the room reached 5.
        _ = try await appendElsewhere("four")
        let five = try await appendElsewhere("five")
        await chat.hub.roomReached(room, lastID: 5)
        var received: [Int64] = []
        while received.last != 5 {
            received.append(try #require(try await member.next()["id"] as? Int64))
        }
        #expect(received == [1, 2, 3, 4, 5])

        // Told again (a late notification, a poll, the commit itself): nothing comes twice.
        await chat.hub.deliver([(five, ack), (three, ack)])
        await chat.hub.roomReached(room, lastID: 5)
        let six = try await appendElsewhere("six")
        await chat.hub.deliver([(six, ack)])
        #expect(try await member.next()["id"] as? Int64 == 6)
    }
}
