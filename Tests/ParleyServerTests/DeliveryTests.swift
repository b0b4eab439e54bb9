import Foundation
import Testing

/// Delivery guarantees beyond the happy path: idempotent sends, resumed sessions, crashes.
@Suite struct DeliveryTests {
    @Test(arguments: Transport.allCases)
    func aRepeatedMIDIsAcknowledgedWithTheOriginalIDAndStoredOnce(_ transport: Transport) async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var server = try await TestServer(directory: directory)
        let alice = try await server.member("general", nick: "alice", over: transport)
        let bob = try await server.member("general", nick: "bob", over: transport)
        _ = try await alice.next(ofType: "presence")

        try alice.send(["type": "say", "room": "general", "text": "once", "mid": "m-1", "ref": "a"])
        let message = try await alice.next(ofType: "message")
        #expect(message.mid == "m-1")
        #expect(try await alice.next() == Event(type: "ack", ref: "a", id: 1))
        #expect(try await bob.next() == message)

        // The retry (same mid, even with other text) is acknowledged with the first id; nobody
        // sees a second message.
        try alice.send(["type": "say", "room": "general", "text": "once, again", "mid": "m-1", "ref": "b"])
        #expect(try await alice.next() == Event(type: "ack", ref: "b", id: 1))
        // Two says with one mid in the same batch: one message.
        try alice.send(["type": "say", "room": "general", "text": "twin", "mid": "m-2", "ref": "c"])
        try alice.send(["type": "say", "room": "general", "text": "twin", "mid": "m-2", "ref": "d"])
        #expect(try await alice.next(ofType: "message").id == 2)
        #expect(try await alice.next() == Event(type: "ack", ref: "c", id: 2))
        #expect(try await alice.next() == Event(type: "ack", ref: "d", id: 2))
        // The same mid in another room is another message.
        try await alice.join("other")
        try alice.send(["type": "say", "room": "other", "text": "elsewhere", "mid": "m-1", "ref": "e"])
        #expect(try await alice.next(ofType: "ack") == Event(type: "ack", ref: "e", id: 1))
        _ = try await bob.next(ofType: "message")
        try await bob.expectNoMessages(for: .milliseconds(200))

        // After a restart the mid is still known.
        await alice.close()
        try await server.stop()
        server = try await TestServer(directory: directory)
        let again = try await server.member("general", nick: "alice", over: transport)
        try again.send(["type": "say", "room": "general", "text": "once", "mid": "m-1", "ref": "f"])
        #expect(try await again.next() == Event(type: "ack", ref: "f", id: 1))
        try again.send(["type": "history", "room": "general", "ref": "h"])
        let history = try await again.next()
        #expect(history.messages?.map(\.text) == ["once", "twin"])
        #expect(history.messages?.map(\.mid) == ["m-1", "m-2"])
        try await server.stop()
    }

    @Test(arguments: [#""""#, #"5"#, #"null"#, "\"\(String(repeating: "x", count: 65))\"", #""a\u0007b""#])
    func aMalformedMIDIsABadRequest(_ mid: String) async throws {
        try await TestServer.with { server async throws in
            let client = try await server.member("r", nick: "m")
            client.send(#"{"type":"say","room":"r","text":"x","ref":"1","mid":\#(mid)}"#)
            let reply = try await client.next()
            if mid == "null" {  // null counts as absent
                #expect(reply.type == "message")
            } else {
                #expect(reply.type == "error")
                #expect(reply.code == "bad_request")
                #expect(reply.ref == "1")
                try await client.expectNoMessages(for: .milliseconds(100))
            }
        }
    }

    /// What one sending client saw before the server went away.
    struct SenderRecord {
        var room: String
        var acked: [Int64: String] = [:]  // id -> text
        var closeCode: Int?
    }

    /// Three clients send as fast as acks come while the real server is killed (`signal`), then
    /// the server restarts on the same database. Every acknowledged message must be stored once
    /// with its text, and each room's ids must still run 1, 2, 3, … without a gap.
    func sendThrough(_ signal: Int32) async throws -> [SenderRecord] {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let unlimited = ["--say-burst", "0", "--command-burst", "0"]
        let server = try await ServerProcess(directory: directory, arguments: unlimited)
        let rooms = ["red", "green", "red"]
        var clients: [ChatClient] = []
        for (index, room) in rooms.enumerated() {
            clients.append(
                try await { () async throws -> ChatClient in
                    let client = try await ChatClient.connect(server.webSocketURL)
                    try await client.join(room, nick: "sender\(index)")
                    return client
                }()
            )
        }
        let progress = AckCounter()
        let records = try await withThrowingTaskGroup(of: SenderRecord.self) { group in
            for (index, client) in clients.enumerated() {
                let room = rooms[index]
                group.addTask {
                    var record = SenderRecord(room: room)
                    var texts: [String: String] = [:]
                    var sent = 0
                    var inFlight = 0
                    while true {
                        while inFlight < 16 && sent < 5000 {
                            let text = "sender \(index) message \(sent)"
                            texts["\(sent)"] = text
                            try? client.send(["type": "say", "room": room, "text": text, "ref": "\(sent)"])
                            sent += 1
                            inFlight += 1
                        }
                        switch try await client.receive(timeout: .seconds(20)) {
                        case .event(let event):
                            if event.type == "ack", let ref = event.ref, let id = event.id {
                                record.acked[id] = texts[ref]
                                inFlight -= 1
                                await progress.count(index)
                            }
                        case .closed(let code):
                            record.closeCode = code
                            return record
                        }
                    }
                }
            }
            // Let every sender get going, then pull the plug.
            let deadline = ContinuousClock.now + .seconds(30)
            while await progress.minimum(of: clients.count) < 50 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            kill(server.process.processIdentifier, signal)
            var records: [SenderRecord] = []
            for try await record in group { records.append(record) }
            return records
        }
        let deadline = ContinuousClock.now + .seconds(15)
        while server.process.isRunning && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(!server.process.isRunning)

        let restarted = try await ServerProcess(directory: directory, arguments: unlimited)
        let reader = try await ChatClient.connect(restarted.webSocketURL)
        for room in Set(rooms) {
            var stored: [Int64: String] = [:]
            var after: Int64 = 0
            while true {
                try reader.send(["type": "history", "room": room, "after": after, "limit": 200, "ref": "h"])
                let page = try await reader.next(ofType: "history")
                for message in page.messages ?? [] { stored[message.id ?? 0] = message.text }
                after = page.messages?.last?.id ?? after
                if page.truncated != true { break }
            }
            #expect(stored.keys.sorted() == Array(1...Int64(max(stored.count, 1))).prefix(stored.count).map { $0 })
            for record in records where record.room == room {
                #expect(!record.acked.isEmpty)
                for (id, text) in record.acked { #expect(stored[id] == text, "acked \(id) in \(room)") }
            }
            let storedTexts = Array(stored.values)
            #expect(Set(storedTexts).count == storedTexts.count, "a message stored twice in \(room)")
        }
        try await restarted.stop()
        return records
    }

    @Test func everyAcknowledgedMessageSurvivesSIGKILL() async throws {
        let records = try await sendThrough(SIGKILL)
        #expect(records.allSatisfy { $0.closeCode == nil })  // killed: no close frame
    }

    @Test func everyAcknowledgedMessageSurvivesSIGTERMAndClientsGet1001() async throws {
        let records = try await sendThrough(SIGTERM)
        #expect(records.map(\.closeCode) == [1001, 1001, 1001])
    }
}

/// Acknowledgements each sender has received so far.
actor AckCounter {
    private var counts: [Int: Int] = [:]

    func count(_ sender: Int) { counts[sender, default: 0] += 1 }

    func minimum(of senders: Int) -> Int { (0..<senders).map { counts[$0, default: 0] }.min() ?? 0 }
}
