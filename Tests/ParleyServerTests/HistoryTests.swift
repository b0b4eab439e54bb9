import Foundation
import Testing

/// Durable history: restarts, reconnect backlog, and the handoff from replay to live messages.
@Suite struct HistoryTests {
    @Test(arguments: Transport.allCases)
    func historySurvivesARestart(_ transport: Transport) async throws {
        let first = try await TestServer()
        let writer = try await first.member("durable", nick: "writer", over: transport)
        try await writer.say(in: "durable", (1...3).map { "before restart \($0)" })
        await writer.close()
        try await first.stop()

        let second = try await TestServer(directory: first.directory)
        let reader = try await ChatClient.connect(second.url, transport: transport)
        let (_, history) = try await reader.join("durable", nick: "reader")
        #expect(history.messages?.map(\.text) == ["before restart 1", "before restart 2", "before restart 3"])
        try reader.send(["type": "say", "room": "durable", "text": "after restart", "ref": "a"])
        #expect(try await reader.next().id == 4)  // ids go on where they stopped
        try await second.stop()
    }

    /// With the rooms' recent messages kept in memory (the default) and without (every replay
    /// reads the store).
    @Test(arguments: [64 << 20, 0], Transport.allCases)
    func reconnectWithSinceGetsExactlyTheMissedMessages(replayMemory: Int, transport: Transport) async throws {
        var chat = TestServer.unlimited.0
        chat.recentMessagesMemory = replayMemory
        try await TestServer.with(chat: chat) { server async throws in
            let phone = try await ChatClient.connect(server.url, transport: transport)
            let friend = try await ChatClient.connect(server.url, transport: transport)
            let session = try #require(try await phone.join("trip", nick: "phone").joined.session)
            try await friend.join("trip", nick: "friend")
            try friend.send(["type": "say", "room": "trip", "text": "seen", "ref": "0"])
            let lastSeen = try #require(try await phone.next(ofType: "message").id)
            await phone.close()  // the phone loses signal

            try await friend.say(in: "trip", (1...3).map { "missed \($0)" })

            let back = try await ChatClient.connect(server.url, transport: transport)
            let (_, backlog) = try await back.join("trip", nick: "phone", since: lastSeen, resume: session)
            #expect(backlog.messages?.map(\.text) == ["missed 1", "missed 2", "missed 3"])
            #expect(backlog.messages?.map(\.id) == [lastSeen + 1, lastSeen + 2, lastSeen + 3])
            #expect(backlog.truncated == false)
            try await back.expectSilence()

            // A client that is up to date gets an empty backlog.
            let current = try await ChatClient.connect(server.url, transport: transport)
            let (_, none) = try await current.join("trip", nick: "current", since: lastSeen + 3)
            #expect(none.messages == [])
        }
    }

    /// Replays come from the messages the room keeps in memory: what an operator imports or
    /// prunes while the server runs must still show in the next replays, not what was kept.
    @Test(arguments: Transport.allCases)
    func anImportOrPruneWhileTheServerRunsIsSeenByTheNextReplays(_ transport: Transport) async throws {
        try await TestServer.with { server async throws in
            let writer = try await server.member("kept", nick: "writer", over: transport)  // stays: the room stays kept
            try await writer.say(in: "kept", ["live 1"])
            func replay() async throws -> [String?] {
                let reader = try await ChatClient.connect(server.url, transport: transport)
                defer { Task { await reader.close() } }
                return try await reader.join("kept", nick: "r\(UUID().uuidString.prefix(8))", since: 0).history
                    .messages?
                    .map(\.text) ?? []
            }
            #expect(try await replay() == ["live 1"])

            let old = [2, 3].map {
                #"{"room":"kept","id":\#($0),"nick":"eve","ts":"2020-01-0\#($0)T10:00:00.000Z","text":"imported \#($0)"}"#
            }
            let imported = try await CommandRun.parley(
                ["import", "--db", server.databasePath, "-"],
                input: old.joined(separator: "\n")
            )
            #expect(imported.status == 0, "\(imported.errors)")
            #expect(try await Self.eventually { try await replay() == ["live 1", "imported 2", "imported 3"] })

            let pruned = try await CommandRun.parley(
                ["prune", "--db", server.databasePath, "--older-than", "2021-01-01", "--yes"]
            )
            #expect(pruned.status == 0, "\(pruned.errors)")
            #expect(try await Self.eventually { try await replay() == ["live 1"] })
            // History pages, which come from memory too, agree.
            try writer.send(["type": "history", "room": "kept", "before": 4, "ref": "h"])
            #expect(try await writer.next(ofType: "history").messages?.map(\.text) == ["live 1"])
        }
    }

    /// Whether `condition` holds within `timeout` (the server checks for other programs' writes
    /// every second).
    static func eventually(
        within timeout: Duration = .seconds(5),
        _ condition: () async throws -> Bool
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return try await condition()
    }

    /// A client whose `since` came from a database that was replaced (ids started over) must
    /// still receive the new messages.
    @Test(arguments: Transport.allCases)
    func sinceBeyondTheRoomDoesNotHideNewMessages(_ transport: Transport) async throws {
        try await TestServer.with { server async throws in
            let writer = try await server.member("reset", nick: "writer", over: transport)
            try await writer.say(in: "reset", ["one", "two"])
            let stale = try await ChatClient.connect(server.url, transport: transport)
            let (_, backlog) = try await stale.join("reset", nick: "stale", since: 500)
            #expect(backlog.messages == [])
            try await writer.say(in: "reset", ["three"])
            let live = try await stale.next(ofType: "message")
            #expect(live.id == 3)
            #expect(live.text == "three")
        }
    }

    @Test(arguments: Transport.allCases)
    func longBacklogIsCappedAtAThousandAndMarkedTruncated(_ transport: Transport) async throws {
        try await TestServer.with { server async throws in
            let writer = try await server.member("flood", nick: "writer", over: transport)
            try await writer.say(in: "flood", (1...1205).map { "n\($0)" })
            let reader = try await ChatClient.connect(server.url, transport: transport)
            let (_, backlog) = try await reader.join("flood", nick: "reader", since: 100)
            #expect(backlog.messages?.count == 1000)
            #expect(backlog.messages?.first?.id == 101)
            #expect(backlog.messages?.last?.id == 1100)
            #expect(backlog.truncated == true)
            try reader.send(["type": "history", "room": "flood", "after": 1100, "limit": 200, "ref": "more"])
            let rest = try await reader.next()
            #expect(rest.messages?.map(\.id) == Array(1101...1205))
            #expect(rest.truncated == false)
        }
    }

    /// Senders keep sending while others join: every joiner's replay plus live stream must be
    /// every id from its starting point to the end, once each, in order.
    @Test(arguments: Transport.allCases)
    func joinHandoffHasNoGapAndNoDuplicate(_ transport: Transport) async throws {
        try await TestServer.with(historyOnJoin: 20) { server async throws in
            let senderCount = 3
            let perSender = 150
            let total = senderCount * perSender
            var senders: [ChatClient] = []
            for index in 0..<senderCount {
                let sender = try await server.member("race", nick: "sender\(index)", over: transport)
                senders.append(sender)
            }
            for sender in senders { while (try? await sender.next(timeout: .milliseconds(50))) != nil {} }

            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, sender) in senders.enumerated() {
                    group.addTask {
                        for number in 0..<perSender {
                            try sender.send([
                                "type": "say", "room": "race", "text": "s\(index)-\(number)", "ref": "\(number)",
                            ])
                            if number % 10 == 0 { try await Task.sleep(for: .milliseconds(2)) }
                        }
                    }
                }
                for joiner in 0..<8 {
                    group.addTask {
                        try await Task.sleep(for: .milliseconds(20 * joiner))
                        let client = try await ChatClient.connect(server.url, transport: transport)
                        let since: Int64? = joiner.isMultiple(of: 2) ? 0 : nil
                        let (_, history) = try await client.join("race", nick: "joiner\(joiner)", since: since)
                        var ids = history.messages?.compactMap(\.id) ?? []
                        while ids.last.map({ $0 < Int64(total) }) ?? true {
                            let event = try await client.next()
                            if event.type == "message", let id = event.id { ids.append(id) }
                        }
                        let first = since == nil ? (ids.first ?? 1) : 1
                        #expect(
                            ids == Array(first...Int64(total)),
                            "joiner \(joiner) since \(String(describing: since))"
                        )
                        try await client.expectNoMessages(for: .milliseconds(100))
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}
