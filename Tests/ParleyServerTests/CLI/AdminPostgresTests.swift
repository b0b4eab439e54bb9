import Foundation
import ParleyTestSupport
import Testing

/// The admin commands on a cluster's PostgreSQL database, run as the real binary, and the move of
/// a single node's SQLite history into it.
@Suite(.serialized) struct AdminPostgresTests {
    /// The JSON objects of a command's JSON Lines output.
    static func objects(_ run: CommandRun) throws -> [[String: Any]] {
        try run.lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    @Test func aSQLiteHistoryMovesIntoPostgreSQLAndEveryAdminCommandReadsItTheSame() async throws {
        let (directory, sqlite) = try await AdminCLITests.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await TestPostgres.with { postgres in
            let url = try postgres.createDatabase("chat")

            // The worked example of docs/CLUSTER.md: export | import -.
            let exported = try await AdminCLITests.run("export", [], db: sqlite)
            let imported = try await AdminCLITests.run("import", ["-"], db: url, input: exported.output)
            #expect(imported.status == 0, "\(imported.errors)")
            #expect(imported.output == "imported 8 messages (0 already there)\n")
            let again = try await AdminCLITests.run("import", ["-"], db: url, input: exported.output)
            #expect(again.output == "imported 0 messages (8 already there)\n")
            // Rooms, ids, nicks, times and mids come back exactly.
            #expect(try await AdminCLITests.run("export", [], db: url).output == exported.output)

            // Every filter of `history` selects the same messages as on SQLite, except that
            // PostgreSQL's search does not fold diacritics ("cafe" finds no "café").
            for (arguments, expected) in AdminCLITests.filterCases where arguments != ["--grep", "cafe"] {
                let selected = try await AdminCLITests.texts(arguments, db: url)
                #expect(selected == expected.map { AdminCLITests.seeds[$0].text }, "\(arguments)")
            }
            let last3 = try Self.objects(
                try await AdminCLITests.run("history", ["-n", "3", "--format", "jsonl"], db: url)
            )
            #expect(last3.map { $0["text"] as? String } == AdminCLITests.seeds.suffix(3).map(\.text))

            let rooms = try Self.objects(try await AdminCLITests.run("rooms", ["--format", "jsonl"], db: url))
            let sqliteRooms = try Self.objects(try await AdminCLITests.run("rooms", ["--format", "jsonl"], db: sqlite))
            #expect(rooms.map { $0["room"] as? String } == ["general", "random", "support"])
            #expect(rooms.map { $0["messages"] as? Int } == [4, 1, 3])
            #expect(rooms.map { $0["nicks"] as? Int } == [3, 1, 2])  // Bob and bob are one nick
            #expect(rooms.map { $0["last"] as? String } == sqliteRooms.map { $0["last"] as? String })

            let stats = try await AdminCLITests.run(
                "stats",
                ["--format", "json", "--days", "3", "--top", "2"],
                db: url
            )
            let object = try #require(try JSONSerialization.jsonObject(with: Data(stats.output.utf8)) as? [String: Any])
            #expect(object["messages"] as? Int == 8)
            #expect(object["rooms"] as? Int == 3)
            #expect(object["nicks"] as? Int == 5)
            #expect((object["per_day"] as? [[String: Any]])?.reduce(0) { $0 + ($1["messages"] as? Int ?? 0) } == 1)
            #expect(
                (object["busiest_rooms"] as? [[String: Any]])?.map { $0["room"] as? String } == ["general", "support"]
            )
            #expect(
                (object["busiest_nicks"] as? [[String: Any]])?.map { $0["nick"] as? String } == ["alice", "Bob"],
                "Bob and bob: 2 messages, as alice and carol; the tie goes by name"
            )
            #expect(object["database_bytes"] as? Int ?? 0 > 0)

            // A node on the database continues the imported rooms: the next id follows on, and a
            // client's retry of an imported message's mid is recognised.
            let node = try await ServerProcess(directory: directory, arguments: ["--db", url, "--node-id", "a"])
            let client = try await ChatClient.connect(node.webSocketURL)
            try await client.join("general", nick: "dan")
            #expect(try await client.say(in: "general", ["after the move"]) == [5])
            try client.send(["type": "say", "room": "general", "text": "recent", "mid": "mid-of-recent", "ref": "r"])
            #expect(try await client.next(ofType: "ack").id == 4)
            await client.close()
            try await node.stop()

            let pruned = try await AdminCLITests.run("prune", ["--older-than", "2026-11-22", "--yes"], db: url)
            #expect(pruned.status == 0, "\(pruned.errors)")
            #expect(
                try await AdminCLITests.texts([], db: url) == AdminCLITests.seeds.suffix(3).map(\.text) + [
                    "after the move"
                ]
            )

            // Read-only commands refuse a database without Parley's tables instead of creating them.
            let empty = try postgres.createDatabase("empty")
            let refused = try await AdminCLITests.run("rooms", [], db: empty)
            #expect(refused.status != 0)
            #expect(refused.errors.contains("has no Parley tables yet"), "\(refused.errors)")
        }
        let nowhere = try await AdminCLITests.run("history", [], db: "postgres://postgres@127.0.0.1:1/chat")
        #expect(nowhere.status != 0)
        #expect(nowhere.errors.contains("cannot use the PostgreSQL database"), "\(nowhere.errors)")
    }
}
