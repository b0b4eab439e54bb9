import ParleyChat
import Testing

/// Session resume: a client that comes back with its `session` token keeps its nick and rooms,
/// and the other members see no leave/join flap.
@Suite struct SessionTests {
    static func chat(grace: Duration) -> ChatConfiguration {
        ChatConfiguration(rateLimits: .unlimited, sessionGrace: grace)
    }

    @Test(arguments: Transport.allCases)
    func resumeTakesOverAConnectionThatIsStillOpen(_ transport: Transport) async throws {
        try await TestServer.with(chat: Self.chat(grace: .seconds(30))) { server async throws in
            let bob = try await server.member("lobby", nick: "bob", over: transport)
            try await bob.join("side")
            let phone = try await ChatClient.connect(server.url, transport: transport)
            let (joined, _) = try await phone.join("lobby", nick: "alice")
            let token = try #require(joined.session)
            #expect(token.count == 32)
            try await phone.join("side")
            _ = try await bob.next(ofType: "presence")
            _ = try await bob.next(ofType: "presence")

            // The phone moved networks; the server has not noticed the old connection is gone.
            let moved = try await ChatClient.connect(server.url, transport: transport)
            let (rejoined, _) = try await moved.join("lobby", nick: "alice", resume: token)
            #expect(rejoined.nick == "alice")
            #expect(rejoined.session == token)
            #expect(rejoined.members == ["alice", "bob"])
            #expect(try await phone.closeCode() == 4001)
            try await moved.join("side", resume: token)
            try await bob.expectSilence(for: .milliseconds(500))  // no leave, no join

            try await bob.say(in: "lobby", ["welcome back"])
            #expect(try await moved.next(ofType: "message").text == "welcome back")
            let ids = try await moved.say(in: "side", ["thanks"])
            let seen = try await bob.next(ofType: "message")
            #expect(seen.id == ids.first)
            #expect(seen.nick == "alice")

            // The session is the new connection's now: the next one takes it over again, and a
            // plain join with the nick is still refused.
            let other = try await ChatClient.connect(server.url, transport: transport)
            try other.send(["type": "join", "room": "lobby", "nick": "Alice", "ref": "t"])
            #expect(try await other.next(ofType: "error").code == "nick_taken")
        }
    }

    @Test(arguments: Transport.allCases)
    func aDropWithinTheGracePeriodIsInvisibleToOthers(_ transport: Transport) async throws {
        // Longer than the steps below take on a loaded machine: when CI starts every suite at
        // once, they have taken more than 8 s. The sleep below waits it out.
        let grace = Duration.seconds(60)
        try await TestServer.with(chat: Self.chat(grace: grace)) { server async throws in
            let bob = try await server.member("lobby", nick: "bob", over: transport)
            let phone = try await ChatClient.connect(server.url, transport: transport)
            let token = try #require(try await phone.join("lobby", nick: "alice").joined.session)
            _ = try await bob.next(ofType: "presence")
            try await bob.say(in: "lobby", ["before"])
            let lastSeen = try #require(try await phone.next(ofType: "message").id)

            await phone.close()  // signal lost
            let lostAt = ContinuousClock.now
            try await bob.say(in: "lobby", ["while away 1", "while away 2"])
            let impostor = try await ChatClient.connect(server.url, transport: transport)
            try impostor.send(["type": "join", "room": "lobby", "nick": "alice", "ref": "i"])
            #expect(try await impostor.next(ofType: "error").code == "nick_taken")
            try await impostor.join("lobby", nick: "eve")
            let eveJoined = try await bob.next(ofType: "presence")
            #expect(eveJoined.nick == "eve")

            let back = try await ChatClient.connect(server.url, transport: transport)
            let (joined, backlog) = try await back.join("lobby", nick: "alice", since: lastSeen, resume: token)
            #expect(joined.members == ["alice", "bob", "eve"])
            #expect(backlog.messages?.map(\.text) == ["while away 1", "while away 2"])
            try await bob.expectSilence(for: .milliseconds(500))
            #expect(ContinuousClock.now < lostAt + grace, "the steps took longer than the grace period")
            try await Task.sleep(until: lostAt + grace + .seconds(1))  // past the first grace period: nothing fires
            try await bob.expectSilence(for: .milliseconds(300))
            try await bob.say(in: "lobby", ["live"])
            #expect(try await back.next(ofType: "message").text == "live")
        }
    }

    /// The connection is cut while messages are on their way to it, some already written to its
    /// socket and never read. Coming back with `since` and `resume` gives every message exactly
    /// once, in order: what was read before the cut, then the backlog, then live ones.
    @Test(arguments: Transport.allCases)
    func aConnectionCutMidFloodResumesWithoutGapOrDuplicate(_ transport: Transport) async throws {
        try await TestServer.with(chat: Self.chat(grace: .seconds(30))) { server async throws in
            let sender = try await server.member("flood", nick: "sender", over: transport)
            let phone = try await ChatClient.connect(server.url, transport: transport)
            let token = try #require(try await phone.join("flood", nick: "phone").joined.session)
            _ = try await sender.next(ofType: "presence")
            let total: Int64 = 400
            for index in 1...total { try sender.send(["type": "say", "room": "flood", "text": "m\(index)"]) }

            var seen: [Int64] = []
            while seen.count < 40 { seen.append(try #require(try await phone.next(ofType: "message").id)) }
            // An event stream's TCP connection is dropped; a WebSocket closes without a leave,
            // which the server treats the same way.
            await phone.close()

            let back = try await ChatClient.connect(server.url, transport: transport)
            let (joined, backlog) = try await back.join("flood", nick: "phone", since: seen.last, resume: token)
            #expect(joined.nick == "phone")
            seen += (backlog.messages ?? []).compactMap(\.id)
            while (seen.last ?? 0) < total { seen.append(try #require(try await back.next(ofType: "message").id)) }
            #expect(seen == Array(1...total))
            try await back.expectNoMessages(for: .milliseconds(300))
        }
    }

    @Test(arguments: Transport.allCases)
    func afterTheGracePeriodTheMemberLeavesAndTheNickIsFree(_ transport: Transport) async throws {
        // Short, but long enough for a loaded machine to resume within it (3 s was not always).
        let grace = Duration.seconds(10)
        try await TestServer.with(chat: Self.chat(grace: grace)) { server async throws in
            let bob = try await server.member("lobby", nick: "bob", over: transport)
            try await bob.join("side")
            let phone = try await ChatClient.connect(server.url, transport: transport)
            let token = try #require(try await phone.join("lobby", nick: "alice").joined.session)
            try await phone.join("side")
            _ = try await bob.next(ofType: "presence")
            _ = try await bob.next(ofType: "presence")

            // Resumed in time, but only one room rejoined: the other is left when the grace ends.
            await phone.close()
            let back = try await ChatClient.connect(server.url, transport: transport)
            try await back.join("lobby", resume: token)
            try await bob.expectSilence(for: .milliseconds(200))
            let left = try await bob.next(ofType: "presence", timeout: grace + .seconds(10))
            #expect(left == Event(type: "presence", room: "side", nick: "alice", event: "leave"))

            // Gone for longer than the grace period: left everywhere, nick free, token stale.
            await back.close()
            let gone = try await bob.next(ofType: "presence", timeout: grace + .seconds(10))
            #expect(gone == Event(type: "presence", room: "lobby", nick: "alice", event: "leave"))
            let late = try await ChatClient.connect(server.url, transport: transport)
            try late.send(["type": "join", "room": "lobby", "resume": token, "ref": "r"])
            let expired = try await late.next(ofType: "error")
            #expect(expired.code == "bad_request")
            #expect(expired.ref == "r")
            let (fresh, _) = try await late.join("lobby", nick: "alice", resume: token)
            #expect(fresh.nick == "alice")
            #expect(fresh.session != nil && fresh.session != token)
            #expect(try await bob.next(ofType: "presence").event == "join")
        }
    }

    /// A client that leaves every room before it closes is done: nothing is held for it.
    @Test(arguments: Transport.allCases)
    func leavingEveryRoomThenClosingEndsTheSessionAtOnce(_ transport: Transport) async throws {
        try await TestServer.with(chat: Self.chat(grace: .seconds(30))) { server async throws in
            let bob = try await server.member("lobby", nick: "bob", over: transport)
            let alice = try await server.member("lobby", nick: "alice", over: transport)
            #expect(try await bob.next(ofType: "presence").event == "join")
            try alice.send(["type": "leave", "room": "lobby", "ref": "bye"])
            #expect(try await alice.next(ofType: "left").ref == "bye")
            #expect(try await bob.next(ofType: "presence").event == "leave")
            await alice.close()
            // The server learns of the close a moment later; until then the nick is taken.
            let again = try await ChatClient.connect(server.url, transport: transport)
            var reply = Event(type: "none")
            for attempt in 0..<50 {
                try again.send(["type": "join", "room": "lobby", "nick": "alice", "ref": "\(attempt)"])
                reply = try await again.next(ofType: "joined", orError: true)
                if reply.type == "joined" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(reply.type == "joined" && reply.nick == "alice")
        }
    }

    @Test(arguments: Transport.allCases)
    func aResumeThatDoesNotFitIsRefusedAndCostsNothing(_ transport: Transport) async throws {
        try await TestServer.with(chat: Self.chat(grace: .seconds(30))) { server async throws in
            let alice = try await ChatClient.connect(server.url, transport: transport)
            let token = try #require(try await alice.join("lobby", nick: "alice").joined.session)
            let other = try await ChatClient.connect(server.url, transport: transport)
            let otherToken = try #require(try await other.join("lobby", nick: "other").joined.session)
            #expect(otherToken != token)
            #expect(try await alice.next(ofType: "presence").nick == "other")

            let probe = try await ChatClient.connect(server.url, transport: transport)
            for (resume, nick) in [("", "x"), ("has space", "x"), (String(repeating: "a", count: 129), "x")] {
                try probe.send(["type": "join", "room": "lobby", "nick": nick, "resume": resume, "ref": "m"])
                #expect(try await probe.next(ofType: "error").code == "bad_request")
            }
            try probe.send(["type": "join", "room": "lobby", "nick": 5, "resume": token, "ref": "n"])
            #expect(try await probe.next(ofType: "error").code == "bad_request")
            // Someone else's token with one's own nick: refused, and the session stays put.
            try probe.send(["type": "join", "room": "lobby", "nick": "mallory", "resume": token, "ref": "w"])
            #expect(try await probe.next(ofType: "error").code == "bad_request")
            // A connection that has a session keeps it: `resume` counts on a first join only.
            #expect(try await other.join("side", resume: token).joined.nick == "other")
            try await alice.expectSilence(for: .milliseconds(300))
            try alice.send(["type": "ping", "ref": "still"])
            #expect(try await alice.next(ofType: "pong").ref == "still")
        }
    }
}
