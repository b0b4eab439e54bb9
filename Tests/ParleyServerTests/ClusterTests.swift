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
        var nodes: [ServerProcess] = []

        /// The arguments of node `name`: no session grace, so a nick is free as soon as its
        /// connection closes, and no say limit in the way of the load.
        func arguments(_ name: String) -> [String] {
            ["--db", url, "--node-id", name, "--say-burst", "1000", "--say-rate", "1000", "--session-grace", "0"]
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

    static func withCluster(nodes names: [String], _ body: (inout Cluster) async throws -> Void) async throws {
        try await TestPostgres.with { postgres in
            let directory = try TestServer.makeDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            var cluster = Cluster(postgres: postgres, url: try postgres.createDatabase("chat"), directory: directory)
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
        }
    }

    /// Joins `room` with `nick` and returns the reply: `joined`, or the error.
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
            let waited = try await Self.waitForNick("ALICE", on: b, within: .seconds(5))
            #expect(waited < .seconds(5))

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
