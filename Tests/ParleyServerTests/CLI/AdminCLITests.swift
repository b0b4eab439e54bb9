import Foundation
import ParleyAdmin
import ParleyCore
import ParleyStore
import Testing

/// The admin commands, run as the real binary against SQLite files written by the real store.
@Suite struct AdminCLITests {
    /// One stored message of the fixture: room, nick, text, time.
    struct Seed {
        var room: String
        var nick: String
        var text: String
        var ts: String
    }

    static let oneHourAgo = Timestamp.iso8601(milliseconds: Int64(Date().timeIntervalSince1970 * 1000) - 3_600_000)

    static let seeds = [
        Seed(
            room: "general",
            nick: "alice",
            text: "Deploy finished, release notes are up",
            ts: "2026-11-20T09:00:00.000Z"
        ),
        Seed(
            room: "general",
            nick: "bob",
            text: "He said \"ship it\", then left.\nNew line, comma",
            ts: "2026-11-20T10:00:00.000Z"
        ),
        Seed(room: "support", nick: "carol", text: "printer on floor 3 is broken", ts: "2026-11-21T14:30:00.000Z"),
        Seed(room: "support", nick: "Bob", text: "try the café printer 🙂", ts: "2026-11-21T15:00:00.000Z"),
        Seed(room: "support", nick: "carol", text: "don't panic, it's fixed", ts: "2026-11-21T16:00:00.000Z"),
        Seed(room: "random", nick: "小千", text: "你好 世界", ts: "2026-11-22T08:00:00.000Z"),
        Seed(room: "general", nick: "Zoë", text: "releases are weekly", ts: "2026-11-22T09:00:00.000Z"),
        Seed(room: "general", nick: "alice", text: "recent", ts: oneHourAgo),
    ]

    /// A temporary folder with `chat.sqlite` holding the seeds, stored through the real store.
    static func fixture() async throws -> (directory: URL, path: String) {
        let directory = try TestServer.makeDirectory()
        let path = directory.appendingPathComponent("chat.sqlite").path
        let store = try SQLiteMessageStore(path: path)
        _ = try await store.append(
            seeds.map {
                MessageDraft(
                    room: RoomName($0.room)!,
                    nick: $0.nick,
                    text: $0.text,
                    createdAt: Timestamp.milliseconds(iso8601: $0.ts)!,
                    mid: $0.text == "recent" ? "mid-of-recent" : nil
                )
            }
        )
        return (directory, path)
    }

    /// Runs `parley <command> --db path …` in UTC, so that dates in filters mean UTC days.
    static func run(
        _ command: String,
        _ arguments: [String],
        db: String,
        input: String? = nil
    ) async throws
        -> CommandRun
    {
        try await CommandRun.parley([command, "--db", db] + arguments, input: input, environment: ["TZ": "UTC"])
    }

    /// The texts `parley history` prints as JSON Lines for `arguments`.
    static func texts(_ arguments: [String], db: String) async throws -> [String] {
        let run = try await run("history", arguments + ["--format", "jsonl", "-n", "0"], db: db)
        guard run.status == 0 else { throw TestFailure("history \(arguments) failed: \(run.errors)") }
        return try run.lines.map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return object?["text"] as? String ?? "?"
        }
    }

    @Test func historyShowsTheNewestMessagesOldestFirst() async throws {
        let (directory, db) = try await Self.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try await Self.texts([], db: db) == Self.seeds.map(\.text))
        let last3 = try await Self.run("history", ["-n", "3", "--format", "jsonl"], db: db)
        #expect(last3.lines.count == 3)
        #expect(last3.lines.first?.contains("你好 世界") == true)
        #expect(last3.lines.last?.contains("\"text\":\"recent\"") == true)
        // The default table: a header and one line per message, the oldest first.
        let table = try await Self.run("history", [], db: db)
        #expect(table.status == 0)
        #expect(table.lines.first?.hasPrefix("TIME") == true)
        #expect(table.lines.count == 1 + Self.seeds.count)
    }

    /// Filters of `history` and the seeds (by index) each selects.
    static let filterCases: [([String], [Int])] = [
        (["--room", "general"], [0, 1, 6, 7]),
        (["--room", "GENERAL"], [0, 1, 6, 7]),
        (["--nick", "bob"], [1, 3]),
        (["--nick", "ZOË"], [6]),
        (["--room", "support", "--nick", "BOB"], [3]),
        (["--since", "2026-11-21", "--until", "2026-11-22"], [2, 3, 4]),
        (["--since", "2026-11-21T15:00:00Z", "--until", "2026-11-21T16:00Z"], [3]),
        (["--since", "2h"], [7]),
        (["--room", "general", "--after-id", "1", "--before-id", "4"], [1, 6]),
        (["--grep", "printer"], [2, 3]),
        (["--grep", "print*"], [2, 3]),
        (["--grep", "release"], [0]),
        (["--grep", "release*"], [0, 6]),
        (["--grep", "\"release notes\""], [0]),
        (["--grep", "\"notes release\""], []),
        (["--grep", "cafe"], [3]),
        (["--grep", "don't"], [4]),
        (["--grep", "printer NOT café"], [2]),
        (["--grep", "ship OR weekly"], [1, 6]),
        (["--grep", "世界"], [5]),
        (
            ["--room", "support", "--nick", "carol", "--grep", "broken OR fixed", "--since", "2026-11-21T15:00Z"],
            [4]
        ),
    ]

    @Test(arguments: filterCases)
    func filtersCombine(_ arguments: [String], _ expected: [Int]) async throws {
        let (directory, db) = try await Self.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try await Self.texts(arguments, db: db) == expected.map { Self.seeds[$0].text })
    }

    @Test func jsonAndCSVParseBackToTheSameMessages() async throws {
        let (directory, db) = try await Self.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        let expected = Self.seeds.enumerated().map { index, seed in
            let id = Self.seeds[...index].filter { $0.room == seed.room }.count
            return [seed.room, String(id), seed.nick, seed.ts, seed.text]
        }

        let json = try await Self.run("history", ["--format", "json"], db: db)
        let array = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]])
        #expect(
            array.map {
                [$0["room"], ($0["id"] as? Int).map(String.init), $0["nick"], $0["ts"], $0["text"]] as? [String]
            }
                == expected
        )
        let empty = try await Self.run("history", ["--format", "json", "--nick", "nobody"], db: db)
        #expect(try JSONSerialization.jsonObject(with: Data(empty.output.utf8)) as? [Any] != nil)

        let csv = try await Self.run("history", ["--format", "csv"], db: db)
        let rows = try CSVReader.rows(csv.output)
        #expect(rows.first == ["room", "id", "nick", "ts", "text"])
        #expect(Array(rows.dropFirst()) == expected)
    }

    @Test func csvDoesNotLetASpreadsheetRunAMessageAsAFormula() async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let db = directory.appendingPathComponent("chat.sqlite").path
        let formula = #"=HYPERLINK("http://x","click")"#
        _ = try await SQLiteMessageStore(path: db).append([
            MessageDraft(room: RoomName("general")!, nick: "mallory", text: formula, createdAt: 0),
            MessageDraft(room: RoomName("general")!, nick: "-dash", text: "@SUM(A1:A9)", createdAt: 0),
        ])
        let csv = try CSVReader.rows(try await Self.run("history", ["--format", "csv"], db: db).output)
        #expect(csv.dropFirst().map { [$0[2], $0[4]] } == [["mallory", "'" + formula], ["'-dash", "'@SUM(A1:A9)"]])
        // JSON keeps the text exact.
        let json = try await Self.run("history", ["--format", "jsonl"], db: db).output
        #expect(json.contains(#""text":"=HYPERLINK(\"http://x\",\"click\")""#))
    }

    @Test func tableColumnsLineUpWithWideCharactersAndCarryNoColourInAPipe() async throws {
        let (directory, db) = try await Self.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        let table = try await Self.run("history", [], db: db)
        #expect(!table.output.contains("\u{1B}["))
        // The TEXT column starts at the same display column on every line, 小千 and 👋 included.
        let starts = table.lines.map { line -> Int in
            let header = table.lines[0]
            let textColumn = DisplayWidth.of(header[..<header.range(of: "TEXT")!.lowerBound])
            var width = 0
            var index = line.startIndex
            while width < textColumn, index < line.endIndex {
                width += DisplayWidth.of(line[index])
                index = line.index(after: index)
            }
            return line[index...].hasPrefix(" ") ? -1 : width
        }
        #expect(Set(starts).count == 1)
        // A multi-line message stays on one line of the table.
        #expect(table.lines.contains { $0.contains("He said \"ship it\", then left.↵ New line, comma") })
    }

    @Test func roomsAndStatsSummariseTheHistory() async throws {
        let (directory, db) = try await Self.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        let rooms = try await Self.run("rooms", ["--format", "jsonl"], db: db)
        let summaries = try rooms.lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(summaries.map { $0?["room"] as? String } == ["general", "random", "support"])
        #expect(summaries.map { $0?["messages"] as? Int } == [4, 1, 3])
        #expect(summaries.map { $0?["nicks"] as? Int } == [3, 1, 2])  // Bob and bob are one nick
        #expect(summaries[2]?["first"] as? String == "2026-11-21T14:30:00.000Z")
        #expect(summaries[2]?["last"] as? String == "2026-11-21T16:00:00.000Z")
        #expect(try await Self.run("rooms", [], db: db).lines.first?.hasPrefix("ROOM") == true)

        let stats = try await Self.run("stats", ["--format", "json", "--days", "3", "--top", "2"], db: db)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(stats.output.utf8)) as? [String: Any])
        #expect(object["messages"] as? Int == 8)
        #expect(object["rooms"] as? Int == 3)
        #expect(object["nicks"] as? Int == 5)
        #expect((object["per_day"] as? [[String: Any]])?.count == 3)
        #expect((object["per_day"] as? [[String: Any]])?.reduce(0) { $0 + ($1["messages"] as? Int ?? 0) } == 1)
        #expect((object["busiest_rooms"] as? [[String: Any]])?.map { $0["room"] as? String } == ["general", "support"])
        #expect((object["busiest_nicks"] as? [[String: Any]])?.first?["nick"] as? String == "alice")
        #expect(object["database_bytes"] as? Int ?? 0 > 0)
        let text = try await Self.run("stats", [], db: db)
        #expect(text.output.contains("Messages per day (last 7)"))
        #expect(text.output.contains("Busiest nicks"))
    }

    @Test func exportThenImportRebuildsTheSameHistoryAndImportingTwiceAddsNothing() async throws {
        let (directory, db) = try await Self.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        let exported = try await Self.run("export", [], db: db)
        #expect(exported.lines.count == Self.seeds.count)
        #expect(exported.lines.last?.hasSuffix(#""text":"recent","mid":"mid-of-recent"}"#) == true)
        let copy = directory.appendingPathComponent("copy.sqlite").path
        let file = directory.appendingPathComponent("all.jsonl")
        try exported.output.write(to: file, atomically: true, encoding: .utf8)

        let first = try await Self.run("import", [file.path], db: copy)
        #expect(first.status == 0)
        #expect(first.output == "imported 8 messages (0 already there)\n")
        #expect(try await Self.run("export", [], db: copy).output == exported.output)
        let again = try await Self.run("import", ["-"], db: copy, input: exported.output)
        #expect(again.output == "imported 0 messages (8 already there)\n")
        // The mid came along: a client's retry into the rebuilt database is still recognised.
        let retried = try await SQLiteMessageStore(path: copy).append([
            MessageDraft(room: RoomName("general")!, nick: "alice", text: "recent", createdAt: 0, mid: "mid-of-recent")
        ])
        #expect(retried.map(\.isNew) == [false])

        // The rooms' sequences moved past the imported ids: the next message gets the next id.
        let store = try SQLiteMessageStore(path: copy)
        let next = try await store.append([
            MessageDraft(room: RoomName("general")!, nick: "dan", text: "new", createdAt: 0)
        ])
        #expect(next.map(\.message.id) == [5])

        let partial = try await Self.run("export", ["--room", "support", "--nick", "carol"], db: db)
        #expect(partial.lines.count == 2)
    }

    @Test func aBadImportLineIsReportedWithItsNumberAndNothingIsImported() async throws {
        let (directory, db) = try await Self.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = #"{"room":"new","id":1,"nick":"eve","ts":"2026-11-23T10:00:00.000Z","text":"fine"}"#
        let cases: [(String, String)] = [
            (good + "\n{\"room\":\"new\",\"id\":2,\n", "line 2: not a JSON object"),
            (
                good.replacingOccurrences(of: "\"text\"", with: #""mid":"a\u0007b","text""#),
                "line 1: invalid mid (1-64 characters without control characters)"
            ),
            (
                good + "\n\n" + good.replacingOccurrences(of: "\"id\":1", with: "\"id\":\"2\""),
                "line 3: the field \"id\" has the wrong type"
            ),
            (
                good + "\n" + good.replacingOccurrences(of: "\"nick\":\"eve\",", with: ""),
                "line 2: the field \"nick\" is missing"
            ),
            (good.replacingOccurrences(of: "\"fine\"", with: "\"  \""), "line 1: invalid text"),
            (good.replacingOccurrences(of: "2026-11-23T10:00:00.000Z", with: "yesterday"), "line 1: invalid ts"),
            (good.replacingOccurrences(of: "\"new\"", with: "\"no room\""), "line 1: invalid room name"),
            (
                good + "\n"
                    + #"{"room":"general","id":1,"nick":"eve","ts":"2026-11-23T10:00:00.000Z","text":"not the original"}"#,
                "line 2: #general already has a different message with id 1; nothing was imported"
            ),
        ]
        for (input, message) in cases {
            let run = try await Self.run("import", ["-"], db: db, input: input)
            #expect(run.status == 1, "\(message)")
            #expect(run.errors.contains(message), "expected \(message), got \(run.errors)")
            #expect(run.errors.split(separator: "\n").count == 1)
        }
        #expect(try await Self.texts([], db: db) == Self.seeds.map(\.text))
        #expect(try await Self.run("rooms", ["--format", "jsonl"], db: db).lines.count == 3)
    }

    /// `<what> written before 2026-12-04 11:40:12 +00:00`, the cutoff as a date.
    static func isCutoffLine(_ output: String, _ what: String) -> Bool {
        let pattern =
            NSRegularExpression.escapedPattern(for: what) + #" written before \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+00:00\n"#
        return (try? Regex(pattern).wholeMatch(in: output)) != nil
    }

    /// On a terminal, prune shows the count and the cutoff and asks; only "y" deletes.
    @Test func pruneOnATerminalAsksFirst() async throws {
        let (directory, db) = try await Self.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        let parley = try ServerProcess.executable().path
        // `script` runs the command on a pseudo-terminal, as an operator's shell would.
        func onTerminal(answer: String) async throws -> CommandRun {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
            process.arguments = ["-qec", "TZ=UTC '\(parley)' prune --db '\(db)' --older-than 1d", "/dev/null"]
            let input = Pipe()
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = output
            try process.run()
            try await Task.sleep(for: .milliseconds(500))  // the question is asked before the answer comes
            input.fileHandleForWriting.write(Data("\(answer)\n".utf8))
            let printed = await Task.detached { output.fileHandleForReading.readDataToEndOfFile() }.value
            process.waitUntilExit()
            try? input.fileHandleForWriting.close()
            return CommandRun(
                status: process.terminationStatus,
                output: String(decoding: printed, as: UTF8.self),
                errors: ""
            )
        }
        let before = try await Self.texts([], db: db)
        let declined = try await onTerminal(answer: "n")
        #expect(declined.output.contains("Delete \(before.count - 1) messages written before "), "\(declined.output)")
        #expect(declined.output.contains("? [y/N]"))
        #expect(declined.output.contains("nothing deleted"))
        #expect(declined.status != 0)
        #expect(try await Self.texts([], db: db) == before)

        let confirmed = try await onTerminal(answer: "y")
        #expect(
            confirmed.output.contains("deleted \(before.count - 1) messages written before "),
            "\(confirmed.output)"
        )
        #expect(confirmed.status == 0)
        #expect(try await Self.texts([], db: db) == ["recent"])
    }

    @Test func pruneDeletesOldMessagesAndTheirSearchEntriesWithoutReusingIDs() async throws {
        let (directory, db) = try await Self.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dryRun = try await Self.run("prune", ["--older-than", "1d", "--room", "support", "--dry-run"], db: db)
        // The cutoff is printed as a date, not echoed back as "1d".
        #expect(Self.isCutoffLine(dryRun.output, "would delete 3 messages in #support"), "\(dryRun.output)")
        #expect(try await Self.texts(["--room", "support"], db: db).count == 3)

        // Not on a terminal, nothing is deleted without --yes; the refusal says what would go.
        let unconfirmed = try await Self.run("prune", ["--older-than", "1d", "--room", "support"], db: db)
        #expect(unconfirmed.status != 0)
        #expect(unconfirmed.errors.contains("this would delete 3 messages in #support written before 20"))
        #expect(unconfirmed.errors.contains("add --yes"))
        #expect(try await Self.texts(["--room", "support"], db: db).count == 3)

        let pruned = try await Self.run("prune", ["--older-than", "1d", "--room", "support", "--yes"], db: db)
        #expect(Self.isCutoffLine(pruned.output, "deleted 3 messages in #support"), "\(pruned.output)")
        #expect(try await Self.texts(["--grep", "printer"], db: db) == [])
        let everywhere = try await Self.run("prune", ["--older-than", "1d", "-y"], db: db)
        #expect(Self.isCutoffLine(everywhere.output, "deleted 4 messages"))
        #expect(try await Self.texts([], db: db) == ["recent"])
        let nothing = try await Self.run("prune", ["--older-than", "1d"], db: db)
        #expect(nothing.status == 0)
        #expect(nothing.output.hasPrefix("nothing to delete: no messages written before "))

        let store = try SQLiteMessageStore(path: db)
        let next = try await store.append([
            MessageDraft(room: RoomName("support")!, nick: "dan", text: "hi", createdAt: 0)
        ])
        #expect(next.map(\.message.id) == [4])
        // The search index matches the table exactly (SQLite checks it, and fails if not).
        try await store.pool.write { db in
            try db.execute(sql: "INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
        }
    }

    @Test(
        arguments: [
            (["history", "--db", "missing.sqlite"], "Error: no database at missing.sqlite"),
            (["rooms", "--db", "missing.sqlite"], "Error: no database at missing.sqlite"),
            (["prune", "--db", "missing.sqlite", "--older-than", "1d"], "Error: no database at missing.sqlite"),
            (["history", "--db", "chat.sqlite", "--since", "last tuesday"], "Error: invalid time \"last tuesday\""),
            (
                ["history", "--db", "chat.sqlite", "--room", "genral"],
                "Error: no room named \"genral\"; did you mean \"general\"?"
            ),
            (["history", "--db", "chat.sqlite", "--room", "suport"], "did you mean \"support\"?"),
            (["history", "--db", "chat.sqlite", "--room", "zzz"], "Error: no room named \"zzz\"; see `parley rooms`"),
            (["history", "--db", "chat.sqlite", "--room", "a b"], "Error: invalid room name \"a b\""),
            (["history", "--db", "chat.sqlite", "--grep", "**"], "holds no word to search for"),
            (["prune", "--db", "chat.sqlite", "--older-than", "soon"], "Error: invalid age \"soon\""),
            (["prune", "--db", "chat.sqlite", "--older-than", "6m"], "Error: \"6m\" is ambiguous"),
            (["import", "--db", "chat.sqlite", "missing.jsonl"], "Error: cannot read missing.jsonl"),
        ]
    )
    func errorsAreOneClearLineAndAFailingExit(_ arguments: [String], _ message: String) async throws {
        let (directory, _) = try await Self.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try await CommandRun.parley(arguments, in: directory)
        #expect(run.status != 0)
        #expect(run.errors.contains(message), "got: \(run.errors)")
        #expect(run.errors.split(separator: "\n").count == 1)
        #expect(run.output.isEmpty)
    }

    @Test func theDatabaseDefaultsLikeServe() async throws {
        let (directory, db) = try await Self.fixture()
        defer { try? FileManager.default.removeItem(at: directory) }
        let viaEnvironment = try await CommandRun.parley(
            ["rooms", "--format", "jsonl"],
            environment: ["PARLEY_DB": db]
        )
        #expect(viaEnvironment.lines.count == 3)
        try FileManager.default.moveItem(atPath: db, toPath: directory.appendingPathComponent("parley.sqlite").path)
        let inWorkingDirectory = try await CommandRun.parley(["rooms", "--format", "jsonl"], in: directory)
        #expect(inWorkingDirectory.lines.count == 3)
    }

    @Test func followPrintsMessagesAsARunningServerStoresThem() async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await ServerProcess(directory: directory)
        let alice = try await ChatClient.connect(server.webSocketURL)
        try await alice.join("live", nick: "alice")
        try await alice.say(in: "live", ["before"])
        let other = try await ChatClient.connect(server.webSocketURL)
        try await other.join("elsewhere", nick: "bob")

        let follower = Process()
        follower.executableURL = try ServerProcess.executable()
        follower.arguments = [
            "history", "--db", directory.appendingPathComponent("parley.sqlite").path, "--room", "live", "-f",
            "--format", "jsonl",
        ]
        let log = try ProcessLog.run(follower)
        defer { follower.terminate() }
        _ = try await log.firstCapture(of: /("text":"before")/)
        try await alice.say(in: "live", ["after 1", "after 2"])
        try await other.say(in: "elsewhere", ["not followed"])
        try await alice.say(in: "live", ["after 3"])
        _ = try await log.firstCapture(of: /("text":"after 3")/)
        let lines = await log.text.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(
            lines.map { $0.firstMatch(of: /"text":"([^"]*)"/).map { String($0.1) } } == [
                "before", "after 1", "after 2", "after 3",
            ]
        )
        #expect(lines.map { $0.firstMatch(of: /"id":(\d+)/).map { String($0.1) } } == ["1", "2", "3", "4"])
        #expect(follower.isRunning)
        try await server.stop()
    }
}

/// Reads CSV as RFC 4180 writes it (quoted fields with doubled quotes and line breaks).
enum CSVReader {
    static func rows(_ text: String) throws -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var iterator = Array(text.unicodeScalars).makeIterator()
        var pending: Unicode.Scalar? = nil
        while let scalar = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if scalar == "\"" {
                    let next = iterator.next()
                    if next == "\"" {
                        field.unicodeScalars.append("\"")
                    } else {
                        quoted = false
                        pending = next
                    }
                } else {
                    field.unicodeScalars.append(scalar)
                }
            } else if scalar == "\"" && field.isEmpty {
                quoted = true
            } else if scalar == "," {
                row.append(field)
                field = ""
            } else if scalar == "\r" {
                continue
            } else if scalar == "\n" {
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            } else {
                field.unicodeScalars.append(scalar)
            }
        }
        guard !quoted, field.isEmpty, row.isEmpty else { throw TestFailure("CSV ends inside a record") }
        return rows
    }
}
