import Foundation
import ParleyTestSupport
import Testing

/// Cluster mode: real `parley serve` nodes on one throwaway PostgreSQL server.
@Suite(.serialized) struct ClusterTests {
    /// Nodes on one database, and what the tests do to them.
    struct Cluster {
        let postgres: TestPostgres
        let url: String
        let directory: URL
        /// Seconds of session grace: by default none, so a nick is free as soon as its
        /// connection closes.
        var grace = 0
        var nodes: [ServerProcess] = []

        /// The arguments of node `name`: no say limit in the way of the load.
        func arguments(_ name: String) -> [String] {
            [
                "--db", url, "--node-id", name, "--say-burst", "1000", "--say-rate", "1000", "--session-grace",
                "\(grace)",
            ]
        }

        func startNode(_ name: String) async throws -> ServerProcess {
            try await ServerProcess(directory: directory, arguments: arguments(name))
        }

        /// Runs SQL on the database, as a superuser.
        func sql(_ statement: String) throws {
            try postgres.psql(statement, database: "chat")
        }

        /// alice on the first node and bob on the second, both in `general`.
        func aliceOnTheFirstNodeAndBobOnTheSecond() async throws -> (ChatClient, ChatClient) {
            let alice = try await ChatClient.connect(nodes[0].webSocketURL)
            let bob = try await ChatClient.connect(nodes[1].webSocketURL)
            try await alice.join("general", nick: "alice")
            try await bob.join("general", nick: "bob")
            return (alice, bob)
        }

        func health(_ node: ServerProcess) async -> String {
            let request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:\(node.port)\r\nConnection: close\r\n\r\n"
            return (try? await RawHTTP.exchange(request, port: node.port)) ?? "no answer"
        }
    }

    static func withCluster(
        nodes names: [String],
        grace: Int = 0,
        _ body: (inout Cluster) async throws -> Void
    ) async throws {
        try await TestPostgres.with { postgres in
            let directory = try TestServer.makeDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            var cluster = Cluster(postgres: postgres, url: try postgres.createDatabase("chat"), directory: directory)
            cluster.grace = grace
            for name in names { cluster.nodes.append(try await cluster.startNode(name)) }
            try await body(&cluster)
            for node in cluster.nodes { try await node.stop() }
        }
    }

    /// Reads `count` messages of `room`, skipping other events.
    static func messages(_ count: Int, of client: ChatClient, timeout: Duration = .seconds(10)) async throws -> [Event]
    {
        var messages: [Event] = []
        while messages.count < count {
            messages.append(try await client.next(ofType: "message", timeout: timeout))
        }
        return messages
    }

    @Test func aMessageSaidOnAnyNodeReachesEveryMemberOnEveryNodeInOrderExactlyOnce() async throws {
        try await Self.withCluster(nodes: ["a", "b"]) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            let line = try await a.log.firstCapture(of: /(.*Parley is running.*)/)
            #expect(line.contains("parley.database=postgres://postgres@127.0.0.1:\(cluster.postgres.port)/chat "))
            #expect(line.contains("parley.node=a"), "\(line)")

            // Senders on both nodes, and a reader on each.
            let alice = try await ChatClient.connect(a.webSocketURL)
            let bob = try await ChatClient.connect(b.webSocketURL)
            let carol = try await ChatClient.connect(a.webSocketURL)
            let dave = try await ChatClient.connect(b.webSocketURL)
            for (client, nick) in [(alice, "alice"), (bob, "bob"), (carol, "carol"), (dave, "dave")] {
                try await client.join("general", nick: nick)
            }

            // Both senders at once: the room's ids interleave across the nodes.
            let perSender = 40
            async let aliceIDs = alice.say(in: "general", (1...perSender).map { "alice \($0)" })
            async let bobIDs = bob.say(in: "general", (1...perSender).map { "bob \($0)" })
            let acked = try await aliceIDs + bobIDs
            #expect(Set(acked) == Set(1...Int64(2 * perSender)))

            for reader in [carol, dave] {
                let received = try await Self.messages(2 * perSender, of: reader)
                #expect(received.map(\.id) == Array(1...Int64(2 * perSender)))
                // Each sender's messages in the order it said them.
                for sender in ["alice", "bob"] {
                    #expect(
                        received.filter { $0.nick == sender }.map(\.text) == (1...perSender).map { "\(sender) \($0)" }
                    )
                }
                try await reader.expectNoMessages(for: .milliseconds(300))
            }
        }
    }

    @Test func aNodeKilledUnderLoadLosesNoAcknowledgedMessageAndTheOthersDeliverEachOnce() async throws {
        try await Self.withCluster(nodes: ["a", "b", "c"]) { cluster in
            let (a, b, c) = (cluster.nodes[0], cluster.nodes[1], cluster.nodes[2])
            let readers = [try await ChatClient.connect(a.webSocketURL), try await ChatClient.connect(b.webSocketURL)]
            for (reader, nick) in zip(readers, ["ra", "rb"]) { try await reader.join("general", nick: nick) }
            let doomed = try await ChatClient.connect(c.webSocketURL)
            try await doomed.join("general", nick: "doomed")
            let steady = try await ChatClient.connect(a.webSocketURL)
            try await steady.join("general", nick: "steady")

            // Node c's sender has 300 messages on their way when c is killed.
            for index in 1...300 {
                try doomed.send(["type": "say", "room": "general", "text": "c \(index)", "ref": "c\(index)"])
            }
            var ackedOnC: [Int64] = []
            while ackedOnC.count < 20 {
                let event = try await doomed.next(ofType: "ack")
                ackedOnC.append(try #require(event.id))
            }
            kill(c.process.processIdentifier, SIGKILL)
            while let event = try? await doomed.next(timeout: .seconds(2)) {
                if event.type == "ack", let id = event.id { ackedOnC.append(id) }
            }
            // Node a's sender goes on meanwhile.
            let steadyIDs = try await steady.say(in: "general", (1...50).map { "a \($0)" })

            // Every message acknowledged on c is stored, and both readers get the room's ids
            // 1...N in order, exactly once.
            let audit = try await ChatClient.connect(b.webSocketURL)
            let (_, history) = try await audit.join("general", nick: "audit", since: 0)
            let messages = try #require(history.messages)
            let stored = messages.compactMap(\.id)
            #expect(Set(ackedOnC).isSubset(of: Set(stored)), "acked on c: \(ackedOnC.count)")
            #expect(Set(steadyIDs).isSubset(of: Set(stored)))
            let total = Int64(stored.count)
            #expect(stored == Array(1...total))
            for reader in readers {
                let received = try await Self.messages(Int(total), of: reader)
                #expect(received.map(\.id) == Array(1...total))
                try await reader.expectNoMessages(for: .milliseconds(300))
            }
        }
    }

    /// The HTTP transport in a cluster. Behind nginx set up as docs/CLUSTER.md says, a client
    /// on it chats with members on both nodes, every command posted through the balancer. A
    /// command posted to a node that does not hold its stream is refused clearly and runs
    /// nothing: why the balancer routes `/events` by client address.
    @Test func theHTTPTransportWorksBehindTheDocumentedBalancerAndOnlyOnItsOwnNode() async throws {
        try await Self.withCluster(nodes: ["a", "b"]) { cluster in
            let proxy = try await NginxProxy(clusterOf: cluster.nodes.map(\.port))
            defer { proxy.stop() }
            let proxied = "ws://127.0.0.1:\(proxy.port)/ws"
            // Who speaks: one client on the HTTP transport through the balancer, one on each
            // node. Who listens (a speaker's own reads skip to its acks): the same three again.
            let speakers = [
                try await ChatClient.connect(proxied, transport: .eventStream),
                try await ChatClient.connect(cluster.nodes[0].webSocketURL),
                try await ChatClient.connect(cluster.nodes[1].webSocketURL),
            ]
            let listeners = [
                try await ChatClient.connect(proxied, transport: .eventStream),
                try await ChatClient.connect(cluster.nodes[0].webSocketURL),
                try await ChatClient.connect(cluster.nodes[1].webSocketURL),
            ]
            for (index, client) in (speakers + listeners).enumerated() {
                try await client.join("general", nick: "member\(index)")
            }
            var expected: [String] = []
            for round in 1...5 {
                for (index, speaker) in speakers.enumerated() {
                    try await speaker.say(in: "general", ["\(index) says \(round)"])
                    expected.append("\(index) says \(round)")
                }
            }
            for listener in listeners {
                #expect(try await Self.messages(expected.count, of: listener).map(\.text) == expected)
            }

            let (connection, token) = try await EventStreamTests.openStream(port: cluster.nodes[0].port)
            defer { connection.close() }
            let stream = try #require(token)
            func postJoin(to node: ServerProcess) async throws -> String {
                try await EventStreamClient.post(
                    #"{"type":"join","room":"general","nick":"mallory","ref":"j"}"#,
                    token: stream,
                    host: "127.0.0.1",
                    port: node.port
                )
            }
            let elsewhere = try await postJoin(to: cluster.nodes[1])
            #expect(RawHTTP.status(elsewhere) == 404)
            #expect(try JSONValue.parse(EventStreamTests.body(elsewhere))["code"] == .string("unknown_stream"))
            try await listeners[1].expectSilence(for: .milliseconds(500))  // nobody joined
            #expect(RawHTTP.status(try await postJoin(to: cluster.nodes[0])) == 202)
            #expect(try await listeners[2].next(ofType: "presence").nick == "mallory")
        }
    }

    @Test func aMidRetriedOnAnotherNodeIsAcknowledgedWithTheFirstIDAndStoredOnce() async throws {
        try await Self.withCluster(nodes: ["a", "b"]) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            let first = try await ChatClient.connect(a.webSocketURL)
            try await first.join("general", nick: "alice")
            try first.send(["type": "say", "room": "general", "text": "once", "mid": "m-1", "ref": "s1"])
            let ack = try await first.next(ofType: "ack")
            await first.close()  // the ack was lost with the connection, as far as the client knows

            let retry = try await ChatClient.connect(b.webSocketURL)
            try await retry.join("general", nick: "alice2")
            try retry.send(["type": "say", "room": "general", "text": "once", "mid": "m-1", "ref": "s2"])
            let second = try await retry.next(ofType: "ack")
            #expect(second.id == ack.id)
            let reader = try await ChatClient.connect(a.webSocketURL)
            let (_, history) = try await reader.join("general", nick: "reader")
            #expect(history.messages?.map(\.text) == ["once"])
        }
    }

    @Test func aKilledListeningConnectionDoesNotStopDelivery() async throws {
        try await Self.withCluster(nodes: ["a", "b"]) { cluster in
            let b = cluster.nodes[1]
            let (alice, bob) = try await cluster.aliceOnTheFirstNodeAndBobOnTheSecond()
            try await alice.say(in: "general", ["before"])
            #expect(try await bob.next(ofType: "message").text == "before")

            try cluster.sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'parley b listener'"
            )
            // Whatever is said from now on still reaches bob, in order, once.
            var said: [String] = []
            for round in 1...6 {
                let text = "after \(round)"
                try await alice.say(in: "general", [text])
                said.append(text)
                try await Task.sleep(for: .milliseconds(500))
            }
            let received = try await Self.messages(said.count, of: bob, timeout: .seconds(5))
            #expect(received.map(\.text) == said)
            #expect(received.map(\.id) == Array(2...Int64(said.count + 1)))
            // The node noticed and listens again.
            _ = try await b.log.firstCapture(of: /(listening connection failed)/, timeout: .seconds(10))
            try await bob.expectNoMessages(for: .milliseconds(300))
        }
    }

    @Test(arguments: ["fast", "immediate"])
    func aPostgreSQLRestartLosesNoAcknowledgedMessageAndTheNodesRecoverByThemselves(mode: String) async throws {
        try await Self.withCluster(nodes: ["a", "b"]) { cluster in
            let b = cluster.nodes[1]
            let (alice, bob) = try await cluster.aliceOnTheFirstNodeAndBobOnTheSecond()
            try await alice.say(in: "general", ["one", "two"])
            #expect(try await Self.messages(2, of: bob).map(\.id) == [1, 2])

            cluster.postgres.halt(mode: mode)
            // A say while the database is down is refused, not lost or acknowledged.
            try alice.send(["type": "say", "room": "general", "text": "down", "ref": "d"])
            let refused = try await alice.next(timeout: .seconds(20))
            #expect(refused.type == "error" && refused.code == "unavailable", "\(refused)")
            try await Task.sleep(for: .seconds(2))  // the poll notices
            let health = await cluster.health(b)
            #expect(health.hasPrefix("HTTP/1.1 503"), "\(health)")
            // Down for longer than a node's lease: no node renewed, yet none of them stalled,
            // so none may be taken for dead (and have its connections closed) when it is back.
            try await Task.sleep(for: .seconds(11))

            try cluster.postgres.resume()
            // The nodes come back by themselves: says are accepted and cross nodes again.
            var acked: [Int64] = []
            let deadline = ContinuousClock.now + .seconds(30)
            while acked.isEmpty && ContinuousClock.now < deadline {
                // Retried with one `mid`, as the page does: a try that timed out but committed
                // after all is not stored twice.
                try alice.send(["type": "say", "room": "general", "text": "back", "mid": "back-1", "ref": "b"])
                var reply = try await alice.next(timeout: .seconds(10))
                while reply.type == "message" { reply = try await alice.next(timeout: .seconds(10)) }
                if reply.type == "ack", let id = reply.id {
                    acked.append(id)
                } else {
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
            #expect(acked == [3])
            #expect(try await bob.next(ofType: "message", timeout: .seconds(10)).text == "back")
            while !(await cluster.health(b)).hasPrefix("HTTP/1.1 200"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect((await cluster.health(b)).hasPrefix("HTTP/1.1 200"))
            let reader = try await ChatClient.connect(b.webSocketURL)
            let (_, history) = try await reader.join("general", nick: "reader")
            #expect(history.messages?.map(\.text) == ["one", "two", "back"])
            // Both nodes kept their clients through the outage and after it.
            try await Task.sleep(for: .seconds(3))
            try await alice.say(in: "general", ["still here"])
            #expect(try await bob.next(ofType: "message").text == "still here")
        }
    }

    /// Joins `room` with `nick` and returns the reply: `joined`, or the error.
    /// The presence events (`"join bob"`) that reach `client` within `window`; other events
    /// are skipped.
    static func presence(of client: ChatClient, for window: Duration) async -> [String] {
        var seen: [String] = []
        let deadline = ContinuousClock.now + window
        while ContinuousClock.now < deadline,
            let event = try? await client.next(timeout: deadline - ContinuousClock.now)
        {
            if event.type == "presence" { seen.append("\(event.event ?? "?") \(event.nick ?? "?")") }
        }
        return seen
    }

    @Test func presenceAndMembersSpanNodes() async throws {
        try await Self.withCluster(nodes: ["a", "b"]) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            let alice = try await ChatClient.connect(a.webSocketURL)
            try await alice.join("general", nick: "alice")
            let bob = try await ChatClient.connect(b.webSocketURL)
            #expect(try await bob.join("general", nick: "bob").joined.members == ["alice", "bob"])
            #expect(await Self.presence(of: alice, for: .seconds(1.5)) == ["join bob"])

            let carol = try await ChatClient.connect(a.webSocketURL)
            #expect(try await carol.join("general", nick: "carol").joined.members == ["alice", "bob", "carol"])
            async let aliceSaw = Self.presence(of: alice, for: .seconds(1.5))
            async let bobSaw = Self.presence(of: bob, for: .seconds(1.5))
            #expect(await aliceSaw == ["join carol"])
            #expect(await bobSaw == ["join carol"])

            // A leave on one node and a closed connection on the other: each seen once, everywhere.
            try bob.send(["type": "leave", "room": "general", "ref": "bye"])
            _ = try await bob.next(ofType: "left")
            await carol.close()
            #expect(Set(await Self.presence(of: alice, for: .seconds(2))) == ["leave bob", "leave carol"])
            let dave = try await ChatClient.connect(b.webSocketURL)
            #expect(try await dave.join("general", nick: "dave").joined.members == ["alice", "dave"])
            #expect(await Self.presence(of: alice, for: .seconds(1.5)) == ["join dave"])
        }
    }

    @Test func aSessionResumedOnAnotherNodeMovesThereWithoutALeaveOrJoin() async throws {
        try await Self.withCluster(nodes: ["a", "b"], grace: 30) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            let carol = try await ChatClient.connect(a.webSocketURL)
            try await carol.join("general", nick: "carol")
            let bob = try await ChatClient.connect(b.webSocketURL)
            try await bob.join("general", nick: "bob")
            let phone = try await ChatClient.connect(a.webSocketURL)
            let token = try #require(try await phone.join("general", nick: "alice").joined.session)
            try await phone.join("side")
            let lastSeen = try #require(try await phone.say(in: "general", ["on the train"]).last)
            _ = await Self.presence(of: bob, for: .seconds(1.5))
            _ = await Self.presence(of: carol, for: .seconds(0.5))

            // The phone moved networks and came back through node b, before node a noticed.
            try await bob.say(in: "general", ["where are you?"])
            let moved = try await ChatClient.connect(b.webSocketURL)
            let (joined, backlog) = try await moved.join("general", since: lastSeen, resume: token)
            #expect(joined.nick == "alice")
            #expect(joined.session == token)
            #expect(joined.members == ["alice", "bob", "carol"])
            #expect(backlog.messages?.map(\.text) == ["where are you?"])
            #expect(try await phone.closeCode() == 4001)
            try await moved.join("side", resume: token)
            async let bobSaw = Self.presence(of: bob, for: .seconds(2))
            async let carolSaw = Self.presence(of: carol, for: .seconds(2))
            #expect(await bobSaw == [])
            #expect(await carolSaw == [])

            // The nick stays alice's on every node, and she leaves once, for everyone.
            let impostor = try await ChatClient.connect(a.webSocketURL)
            #expect(try await Self.tryJoin(impostor, "ALICE").code == "nick_taken")
            await moved.close()
            _ = try? await moved.closeCode(timeout: .seconds(1))
            #expect(await Self.presence(of: bob, for: .seconds(1)) == [])  // the grace period
            let fresh = try await ChatClient.connect(b.webSocketURL)
            let resumed = try await fresh.join("general", resume: token)
            #expect(resumed.joined.nick == "alice")
            try fresh.send(["type": "leave", "room": "general", "ref": "bye"])
            async let bobSawLeave = Self.presence(of: bob, for: .seconds(2))
            async let carolSawLeave = Self.presence(of: carol, for: .seconds(2))
            #expect(await bobSawLeave == ["leave alice"])
            #expect(await carolSawLeave == ["leave alice"])
        }
    }

    @Test func aClientWhoseNodeDiesResumesElsewhereAndTheOthersSeeOneLeaveForWhoDidNot() async throws {
        try await Self.withCluster(nodes: ["a", "b", "c"], grace: 6) { cluster in
            let (a, b, c) = (cluster.nodes[0], cluster.nodes[1], cluster.nodes[2])
            let bob = try await ChatClient.connect(b.webSocketURL)
            try await bob.join("general", nick: "bob")
            let dan = try await ChatClient.connect(c.webSocketURL)
            try await dan.join("general", nick: "dan")
            let alice = try await ChatClient.connect(a.webSocketURL)
            let token = try #require(try await alice.join("general", nick: "alice").joined.session)
            let carol = try await ChatClient.connect(a.webSocketURL)
            try await carol.join("general", nick: "carol")
            let lastSeen = try #require(try await alice.say(in: "general", ["before"]).last)
            _ = await Self.presence(of: bob, for: .seconds(1.5))
            _ = await Self.presence(of: dan, for: .seconds(0.5))

            kill(a.process.processIdentifier, SIGKILL)
            try await bob.say(in: "general", ["while you were away", "still here"])
            let back = try await ChatClient.connect(c.webSocketURL)
            let (joined, backlog) = try await back.join("general", since: lastSeen, resume: token)
            #expect(joined.nick == "alice")
            #expect(joined.members == ["alice", "bob", "carol", "dan"])  // carol's grace runs
            #expect(backlog.messages?.map(\.text) == ["while you were away", "still here"])

            // Until a's lease (10 s) and the grace (6 s) have run out, and a little longer: carol,
            // who did not come back, leaves once for everyone; alice, who did, never.
            async let bobSaw = Self.presence(of: bob, for: .seconds(24))
            async let danSaw = Self.presence(of: dan, for: .seconds(24))
            async let aliceSaw = Self.presence(of: back, for: .seconds(24))
            #expect(await bobSaw == ["leave carol"])
            #expect(await danSaw == ["leave carol"])
            #expect(await aliceSaw == ["leave carol"])
            // Exactly one node ended carol's session, and one noticed a stopped.
            let logs = [await b.log.text, await c.log.text]
            #expect(logs.count(where: { $0.contains("1 sessions of stopped nodes were not resumed in time") }) == 1)
            #expect(logs.count(where: { $0.contains("Node a stopped renewing its lease") }) == 1)

            let impostor = try await ChatClient.connect(b.webSocketURL)
            #expect(try await Self.tryJoin(impostor, "alice").code == "nick_taken")
            #expect(try await Self.tryJoin(impostor, "carol").type == "joined")
            try await back.say(in: "general", ["back on c"])
            #expect(try await bob.next(ofType: "message").text == "back on c")
        }
    }

    @Test func theBenchSpreadsItsClientsOverTheNodesAndTimesCrossNodeDeliveries() async throws {
        try await Self.withCluster(nodes: ["a", "b"]) { cluster in
            let run = try await CommandRun.parley(
                [
                    "bench", "fanout", "--rooms", "2", "--clients", "4", "--senders", "2", "--rate", "20",
                    "--warmup", "0.5", "--duration", "2", "--json",
                    "--url", cluster.nodes[0].webSocketURL, "--url", cluster.nodes[1].webSocketURL,
                ],
                in: cluster.directory
            )
            #expect(run.status == 0, "\(run.errors)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
            #expect(report["nodes"] as? Int == 2)
            #expect(report["lost"] as? Int == 0)
            #expect(report["duplicated"] as? Int == 0)
            #expect((report["expected"] as? Int ?? 0) > 0)
            #expect(report["received"] as? Int == report["expected"] as? Int)
            // Half of each room is on the other node than its sender.
            let crossNode = try #require(report["cross_node_latency"] as? [String: Any])
            let all = try #require(report["latency"] as? [String: Any])
            let share = Double(crossNode["count"] as? Int ?? 0) / Double(all["count"] as? Int ?? 1)
            #expect(share > 0.4 && share < 0.6, "\(share)")
        }
    }

    static func tryJoin(_ client: ChatClient, _ nick: String, room: String = "general") async throws -> Event {
        try client.send(["type": "join", "room": room, "nick": nick, "ref": "j-\(nick)"])
        return try await client.next(ofType: "joined", orError: true)
    }

    /// Tries `nick` every 200 ms until a join with it succeeds; returns how long it took.
    static func waitForNick(_ nick: String, on node: ServerProcess, within limit: Duration) async throws -> Duration {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < limit {
            let client = try await ChatClient.connect(node.webSocketURL)
            let reply = try await tryJoin(client, nick)
            if reply.type == "joined" { return ContinuousClock.now - started }
            #expect(reply.code == "nick_taken", "\(reply)")
            await client.close()
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestFailure("\(nick) was still taken after \(limit)")
    }

    @Test func nicksAreUniqueAcrossNodesWithCaseFolding() async throws {
        try await Self.withCluster(nodes: ["a", "b"]) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            let alice = try await ChatClient.connect(a.webSocketURL)
            #expect(try await Self.tryJoin(alice, "Alice").type == "joined")
            let impostor = try await ChatClient.connect(b.webSocketURL)
            let refused = try await Self.tryJoin(impostor, "alice")
            #expect(refused.code == "nick_taken", "\(refused)")

            // Two nodes claiming one nick at the same instant: exactly one wins, every time.
            for round in 1...5 {
                let onA = try await ChatClient.connect(a.webSocketURL)
                let onB = try await ChatClient.connect(b.webSocketURL)
                async let first = Self.tryJoin(onA, "Carol\(round)")
                async let second = Self.tryJoin(onB, "cAROL\(round)")
                let replies = try await [first, second].map(\.type).sorted()
                #expect(replies == ["error", "joined"], "round \(round)")
            }

            // A nick is free on every node once its session ends.
            await alice.close()
            let waited = try await Self.waitForNick("ALICE", on: b, within: .seconds(15))
            #expect(waited < .seconds(15))

            // Two nodes with one name would share one lease: the second refuses to start.
            let twin = try await CommandRun.parley(
                ["serve", "--host", "127.0.0.1", "--port", "0"] + cluster.arguments("a"),
                in: cluster.directory
            )
            #expect(twin.status != 0)
            #expect(twin.errors.contains("a node named a is already running"), "\(twin.errors)")
        }
    }

    @Test func theNicksOfANodeThatDiesAreFreedOnceItsLeaseExpires() async throws {
        try await Self.withCluster(nodes: ["a", "b"]) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            let dave = try await ChatClient.connect(a.webSocketURL)
            #expect(try await Self.tryJoin(dave, "dave").type == "joined")
            kill(a.process.processIdentifier, SIGKILL)
            let killed = ContinuousClock.now
            let other = try await ChatClient.connect(b.webSocketURL)
            #expect(try await Self.tryJoin(other, "dave").code == "nick_taken")
            _ = try await Self.waitForNick("dave", on: b, within: .seconds(25))
            // The lease is 10 s and renewed every 2 s: noticed within about 12 s.
            let noticed = ContinuousClock.now - killed
            #expect(noticed >= .seconds(5) && noticed < .seconds(20), "\(noticed)")
            _ = try await b.log.firstCapture(of: /(Node a stopped renewing its lease)/)
        }
    }

    @Test func aNodeThatStalledPastItsLeaseClosesItsConnectionsAndRejoins() async throws {
        try await Self.withCluster(nodes: ["a", "b"]) { cluster in
            let (a, b) = (cluster.nodes[0], cluster.nodes[1])
            let erin = try await ChatClient.connect(a.webSocketURL)
            #expect(try await Self.tryJoin(erin, "erin").type == "joined")
            kill(a.process.processIdentifier, SIGSTOP)
            // Node b frees erin once a's lease has expired, and someone else takes the nick.
            _ = try await Self.waitForNick("erin", on: b, within: .seconds(25))
            kill(a.process.processIdentifier, SIGCONT)
            // Node a finds its lease gone: its connections are closed (reconnect elsewhere) ...
            #expect(try await erin.closeCode(timeout: .seconds(15)) == 1012)
            _ = try await a.log.firstCapture(of: /(lease expired)/)
            // ... and it serves again, without claiming erin twice.
            let again = try await ChatClient.connect(a.webSocketURL)
            #expect(try await Self.tryJoin(again, "erin").code == "nick_taken")
            #expect(try await Self.tryJoin(again, "frank").type == "joined")
        }
    }

    @Test func aNodeStartsOnlyOnADatabaseItCanUseAndSaysWhy() async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let started = ContinuousClock.now
        let nowhere = try await CommandRun.parley(
            ["serve", "--host", "127.0.0.1", "--port", "0", "--db", "postgres://postgres@127.0.0.1:1/chat"],
            in: directory
        )
        #expect(nowhere.status != 0)
        #expect(
            nowhere.errors.contains("cannot use the PostgreSQL database postgres://postgres@127.0.0.1:1/chat"),
            "\(nowhere.errors)"
        )
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)

        try await TestPostgres.with { postgres in
            let missing = try await CommandRun.parley(
                ["serve", "--host", "127.0.0.1", "--port", "0", "--db", postgres.url("nosuchdb")],
                in: directory
            )
            #expect(missing.status != 0)
            #expect(missing.errors.contains("database \"nosuchdb\" does not exist"), "\(missing.errors)")
        }
    }
}
