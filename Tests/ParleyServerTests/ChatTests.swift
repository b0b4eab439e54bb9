import ParleyChat
import Testing

/// The commands of protocol v1 between real clients and a real server, over each transport.
@Suite struct ChatTests {
    @Test(arguments: Transport.allCases)
    func twoClientsChatInARoom(_ transport: Transport) async throws {
        try await TestServer.with { server async throws in
            let alice = try await ChatClient.connect(server.url, transport: transport)
            let bob = try await ChatClient.connect(server.url, transport: transport)

            let (aliceJoined, aliceHistory) = try await alice.join("General", nick: "alice")
            #expect(aliceJoined.room == "general")  // folded
            #expect(aliceJoined.nick == "alice")
            #expect(aliceJoined.members == ["alice"])
            #expect(aliceJoined.ref == "join-General")
            #expect(aliceHistory.messages == [])
            #expect(aliceHistory.truncated == false)
            #expect(aliceHistory.ref == nil)

            let (bobJoined, _) = try await bob.join("general", nick: "小千")
            #expect(bobJoined.members == ["alice", "小千"])
            let presence = try await alice.next()
            #expect(presence == Event(type: "presence", room: "general", nick: "小千", event: "join"))

            try alice.send(["type": "say", "room": "general", "text": "hello 👋", "ref": "s1"])
            let message = try await alice.next()
            #expect(message.type == "message")
            #expect(message.id == 1)
            #expect(message.nick == "alice")
            #expect(message.text == "hello 👋")
            #expect(message.ref == nil)
            let ack = try await alice.next()
            #expect(ack == Event(type: "ack", ref: "s1", id: 1))
            let received = try await bob.next()
            #expect(received == message)
            // ts is UTC with milliseconds
            let ts = try #require(message.ts)
            #expect(ts.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil)

            try bob.send(["type": "say", "room": "general", "text": "hi\n\tthere", "ref": "b1"])
            #expect(try await alice.next().id == 2)
            #expect(try await bob.next(ofType: "ack") == Event(type: "ack", ref: "b1", id: 2))

            try alice.send(["type": "ping", "ref": "p"])
            #expect(try await alice.next() == Event(type: "pong", ref: "p"))
            try alice.send(["type": "ping"])
            #expect(try await alice.next() == Event(type: "pong"))
            await alice.close()
            await bob.close()
        }
    }

    @Test(arguments: Transport.allCases)
    func leaveSendsLeftAndPresence(_ transport: Transport) async throws {
        try await TestServer.with { server async throws in
            let alice = try await ChatClient.connect(server.url, transport: transport)
            let bob = try await ChatClient.connect(server.url, transport: transport)
            try await alice.join("room1", nick: "alice")
            try await bob.join("room1", nick: "bob")
            _ = try await alice.next(ofType: "presence")

            try bob.send(["type": "leave", "room": "ROOM1", "ref": "l1"])
            #expect(try await bob.next() == Event(type: "left", room: "room1", ref: "l1"))
            #expect(try await alice.next() == Event(type: "presence", room: "room1", nick: "bob", event: "leave"))

            try bob.send(["type": "say", "room": "room1", "text": "still here?", "ref": "s"])
            let error = try await bob.next()
            #expect(error.code == "not_in_room")
            #expect(error.ref == "s")
            try bob.send(["type": "leave", "room": "room1", "ref": "l2"])
            #expect(try await bob.next().code == "not_in_room")
            try await alice.expectSilence()
        }
    }

    /// Without a grace period the nick is free as soon as its connection closes (the grace
    /// period has tests of its own in `SessionTests`).
    @Test(arguments: Transport.allCases)
    func nickIsUniqueAcrossRoomsAndFreedWhenItsSessionEnds(_ transport: Transport) async throws {
        let chat = ChatConfiguration(rateLimits: .unlimited, sessionGrace: .zero)
        try await TestServer.with(chat: chat) { server async throws in
            let alice = try await ChatClient.connect(server.url, transport: transport)
            let watcher = try await ChatClient.connect(server.url, transport: transport)
            try await alice.join("one", nick: "Alice")
            try await alice.join("two")  // later joins need no nick
            let (joinedAgain, _) = try await alice.join("three", nick: "ALICE")  // same nick, other case
            #expect(joinedAgain.nick == "Alice")
            try await watcher.join("two", nick: "watcher")

            let impostor = try await ChatClient.connect(server.url, transport: transport)
            try impostor.send(["type": "join", "room": "elsewhere", "nick": "alice", "ref": "x"])
            let taken = try await impostor.next()
            #expect(taken.type == "error")
            #expect(taken.code == "nick_taken")
            #expect(taken.ref == "x")

            await alice.close()
            #expect(try await watcher.next() == Event(type: "presence", room: "two", nick: "Alice", event: "leave"))
            // The nick is free again, and the failed attempt left the connection usable.
            let (joined, _) = try await impostor.join("elsewhere", nick: "alice")
            #expect(joined.nick == "alice")
        }
    }

    @Test(arguments: Transport.allCases)
    func historyCommandPagesWithoutJoining(_ transport: Transport) async throws {
        try await TestServer.with { server async throws in
            let writer = try await server.member("log", nick: "writer", over: transport)
            try await writer.say(in: "log", (1...7).map { "m\($0)" })

            let reader = try await ChatClient.connect(server.url, transport: transport)
            try reader.send(["type": "history", "room": "log", "limit": 3, "ref": "h1"])
            let latest = try await reader.next()
            #expect(latest.type == "history")
            #expect(latest.ref == "h1")
            #expect(latest.messages?.map(\.id) == [5, 6, 7])
            #expect(latest.truncated == true)

            try reader.send(["type": "history", "room": "log", "before": 5, "limit": 3, "ref": "h2"])
            let older = try await reader.next()
            #expect(older.messages?.map(\.id) == [2, 3, 4])
            #expect(older.messages?.map(\.text) == ["m2", "m3", "m4"])
            #expect(older.truncated == true)

            try reader.send(["type": "history", "room": "log", "before": 2, "ref": "h3"])
            let oldest = try await reader.next()
            #expect(oldest.messages?.map(\.id) == [1])
            #expect(oldest.truncated == false)

            try reader.send(["type": "history", "room": "log", "after": 5, "limit": 200, "ref": "h4"])
            let newer = try await reader.next()
            #expect(newer.messages?.map(\.id) == [6, 7])
            #expect(newer.truncated == false)

            try reader.send(["type": "history", "room": "empty-room", "ref": "h5"])
            let empty = try await reader.next()
            #expect(empty.messages == [])
            #expect(empty.room == "empty-room")
        }
    }

    @Test(arguments: Transport.allCases)
    func joinReplaysTheLastMessagesOfTheRoom(_ transport: Transport) async throws {
        try await TestServer.with(historyOnJoin: 5) { server async throws in
            let writer = try await server.member("busy", nick: "writer", over: transport)
            #expect(try await writer.say(in: "busy", (1...8).map { "m\($0)" }) == Array(1...8))
            let late = try await ChatClient.connect(server.url, transport: transport)
            let (_, history) = try await late.join("busy", nick: "late")
            #expect(history.messages?.map(\.id) == [4, 5, 6, 7, 8])
            #expect(history.truncated == true)
        }
    }

    @Test(arguments: Transport.allCases)
    func aConnectionMayBeInAHundredRooms(_ transport: Transport) async throws {
        try await TestServer.with { server async throws in
            let client = try await ChatClient.connect(server.url, transport: transport)
            for index in 0..<100 {
                try await client.join("r\(index)", nick: index == 0 ? "roomy" : nil)
            }
            try client.send(["type": "join", "room": "r100", "ref": "over"])
            let error = try await client.next()
            #expect(error.code == "too_many_rooms")
            #expect(error.ref == "over")
            // Rejoining a room it is in is not a new room.
            try await client.join("r5")
            try client.send(["type": "leave", "room": "r0", "ref": "l"])
            _ = try await client.next(ofType: "left")
            try await client.join("r100")
        }
    }
}
