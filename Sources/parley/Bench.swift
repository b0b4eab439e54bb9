import ArgumentParser
import Foundation
import ParleyBench

/// `parley bench`: load scenarios against a running Parley server.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a running Parley server under load (like redis-benchmark or pgbench).",
        discussion: """
            Every run is bounded in connections and time, targets only the URL given, and reports \
            the generator's own CPU use: at 90% or more it, not the server, is the limit. Give the \
            server's PID (--server-pid) when it runs on this machine to see its CPU and memory too. \
            The rooms of a run are named bench-<run id>-… (see --room-prefix), so they cannot be \
            mistaken for real rooms; use a throwaway server and database for benchmarks.

            Start the server with its limits off for a benchmark, e.g.:
              parley serve --say-burst 0 --command-burst 0 --max-connections-per-ip 0 \\
                --connect-burst-per-ip 0 --max-connections 0 --max-members-per-room 0
            If the server refuses load anyway (rate_limited, 1008 closes, 429/503 at connect), \
            the run says so and exits with status 2: that is its limits, not lost messages.

            Examples:
              parley bench fanout --rooms 1 --clients 100 --senders 10 --window 4
              parley bench fanout --clients 1000 --senders 1 --rate 50 --duration 30
              parley bench fanout --rooms 20 --clients 6 --senders 1 --rate 100 \\
                --url ws://10.0.0.1:8080/ws --url ws://10.0.0.2:8080/ws --url ws://10.0.0.3:8080/ws
              parley bench connections --connections 19000 --server-pid $(pidof parley)
              parley bench replay --messages 1000 --clients 100
              parley bench store --senders 50 --window 32 --json
            """,
        subcommands: [BenchFanout.self, BenchConnections.self, BenchReplay.self, BenchStore.self]
    )
}

/// What every scenario takes.
struct BenchOptions: ParsableArguments {
    @Option(
        name: .customLong("url"),
        help: ArgumentHelp(
            "WebSocket URL of the server (default: ws://127.0.0.1:8080/ws). Repeat it for the nodes of a cluster: fanout and store spread their clients over them and report cross-node latency; connections and replay use the first.",
            valueName: "url"
        )
    )
    var urls: [String] = []

    /// Every URL given, or the default one.
    var allURLs: [String] { urls.isEmpty ? ["ws://127.0.0.1:8080/ws"] : urls }
    var url: String { allURLs[0] }

    @Option(help: "PID of the server when it runs on this machine: its CPU and memory are reported.")
    var serverPID: Int32?

    @Flag(help: "Print one JSON line instead of a table.")
    var json = false

    @Option(help: "Start of the name of every room the run creates; the run id and a number follow.")
    var roomPrefix = BenchNames.defaultRoomPrefix

    func validate() throws {
        if let problem = BenchNames.problem(withPrefix: roomPrefix) { throw ValidationError(problem) }
        for url in allURLs {
            guard URLComponents(string: url)?.host != nil, ["ws", "wss"].contains(URLComponents(string: url)?.scheme)
            else { throw ValidationError("--url must be a ws:// or wss:// URL: \(url)") }
        }
    }

    /// Progress goes to standard error, so that the report on standard output stays clean.
    func progress(_ line: String) {
        let terminal = isatty(STDERR_FILENO) == 1
        FileHandle.standardError.write(Data(((terminal ? "\r\u{1B}[K" : "") + line + (terminal ? "" : "\n")).utf8))
    }

    func report<Report: Encodable>(_ report: Report, rows: [(String, String)]) throws {
        if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        let width = rows.map(\.0.count).max() ?? 0
        for (name, value) in rows {
            print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }
    }
}

extension Double {
    func formatted(_ digits: Int = 0) -> String { String(format: "%.\(digits)f", self) }
}

extension LatencySummary {
    var text: String {
        "p50 \(p50.formatted(2)) ms, p99 \(p99.formatted(2)) ms, p99.9 \(p999.formatted(2)) ms, max \(max.formatted(2)) ms (\(count) samples)"
    }
}

struct BenchFanout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "R rooms of C clients, S senders each; deliveries/s, latency, lost and duplicated messages."
    )

    @OptionGroup var common: BenchOptions
    @Option(help: "Rooms.") var rooms = 1
    @Option(help: "Clients per room (senders included).") var clients = 100
    @Option(help: "Senders per room.") var senders = 10
    @Option(help: "Messages per second per sender; 0 sends as fast as acks allow.") var rate = 0.0
    @Option(help: "Unacknowledged messages per sender when --rate is 0.") var window = 4
    @Option(help: "Bytes of message text.") var size = 64
    @Option(help: "Seconds measured.") var duration = 10.0
    @Option(help: "Seconds of sending before the measurement.") var warmup = 2.0
    @Option(help: "The clients' transport: websocket, or events (the HTTP transport).")
    var transport = BenchTransport.webSocket.rawValue

    func validate() throws {
        guard BenchTransport(rawValue: transport) != nil else {
            throw ValidationError("--transport is websocket or events")
        }
        guard rooms >= 1, clients >= 1, (0...clients).contains(senders), senders >= 1 else {
            throw ValidationError("need --rooms >= 1 and 1 <= --senders <= --clients")
        }
        guard rooms * clients <= 19_000 else { throw ValidationError("at most 19000 clients in all") }
        guard duration > 0, duration <= 3600, warmup >= 0, window >= 1, size >= 48, size <= 4000 else {
            throw ValidationError("need 0 < --duration <= 3600, --window >= 1, 48 <= --size <= 4000")
        }
    }

    func run() async throws {
        var options = FanoutBench.Options(urls: common.allURLs)
        options.rooms = rooms
        options.clientsPerRoom = clients
        options.sendersPerRoom = senders
        options.rate = rate
        options.window = window
        options.textBytes = size
        options.duration = .milliseconds(Int64(duration * 1000))
        options.warmup = .milliseconds(Int64(warmup * 1000))
        options.serverPID = common.serverPID
        options.roomPrefix = common.roomPrefix
        options.transport = BenchTransport(rawValue: transport) ?? .webSocket
        let report = try await FanoutBench(options).run(progress: common.progress)
        var crossNode: [(String, String)] = []
        if let latency = report.crossNodeLatency {
            crossNode.append(("cross-node latency", "\(latency.text) over \(report.nodes) nodes"))
        }
        let shape: (String, String) = (
            "shape",
            "\(rooms) room(s) x \(clients) \(options.transport == .eventStream ? "event-stream " : "")clients, "
                + "\(senders) sender(s) each, "
                + (rate > 0 ? "\(rate) msg/s per sender" : "window \(window)")
        )
        let rates: [(String, String)] = [
            shape,
            ("deliveries/s", report.deliveriesPerSecond.formatted()),
            ("sends/s", report.sendsPerSecond.formatted()),
            ("latency", report.latency.text),
        ]
        try common.report(
            report,
            rows: rates + crossNode + [
                ("ack latency", report.ackLatency.text),
                ("expected / received", "\(report.expected) / \(report.received)"),
                report.limits.any
                    ? ("lost / duplicated", "not measured: the server refused part of the load (below)")
                    : ("lost / duplicated", "\(report.lost) / \(report.duplicated)"),
                ("errors", "\(report.errors)"),
                (
                    "generator CPU",
                    "\(report.generatorCPUPercent.formatted())%"
                        + (report.generatorCPUPercent >= 90 ? " (saturated: the generator is the limit)" : "")
                ),
                (
                    "server CPU",
                    report.serverCPUPercent.map {
                        "\($0.formatted())%, \(report.serverMicrosecondsPerDelivery!.formatted(2)) µs per delivery"
                    } ?? "unknown (no --server-pid)"
                ),
            ]
        )
        if report.limits.any {
            Self.explainLimits(report.limits)
            throw ExitCode(2)
        }
        if report.lost > 0 || report.duplicated > 0 { throw ExitCode(1) }
    }

    /// The server refused load: say which limits, and how to start a server without them.
    static func explainLimits(_ limits: LimitsHit) {
        var seen: [String] = []
        if limits.rateLimited > 0 { seen.append("\(limits.rateLimited) messages refused with rate_limited") }
        if limits.policyCloses > 0 { seen.append("\(limits.policyCloses) connections closed with 1008") }
        FileHandle.standardError.write(
            Data(
                """
                The server's limits are on (\(seen.joined(separator: ", "))): these figures are its limits, \
                not its speed, and the gaps are refused messages, not lost ones. For a benchmark, start it with:
                  \(LimitsHit.unlimitedServe)

                """.utf8
            )
        )
    }
}

struct BenchConnections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections",
        abstract: "Open N idle connections that each join a room; connect rate, ping round trip, server memory."
    )

    @OptionGroup var common: BenchOptions
    @Option(help: "Connections to open (this machine allows a process about 19,900 open files).") var connections = 1000
    @Option(help: "Connections being opened at once.") var concurrency = 100
    @Option(help: "Members per room.") var roomSize = 50
    @Option(help: "Seconds to hold them open.") var hold = 5.0

    func validate() throws {
        guard (1...100_000).contains(connections), concurrency >= 1, roomSize >= 1, hold > 0, hold <= 3600 else {
            throw ValidationError("need 1 <= --connections <= 100000, 0 < --hold <= 3600")
        }
    }

    func run() async throws {
        var options = ConnectionsBench.Options(url: common.url)
        options.connections = connections
        options.concurrency = concurrency
        options.roomSize = roomSize
        options.hold = .milliseconds(Int64(hold * 1000))
        options.serverPID = common.serverPID
        options.roomPrefix = common.roomPrefix
        let report = try await ConnectionsBench(options).run(progress: common.progress)
        try common.report(
            report,
            rows: [
                ("connected", "\(report.connected) of \(report.connections) (\(report.failures) failed)"),
                ("connects/s", report.connectsPerSecond.formatted()),
                ("ping round trip", report.pingRoundTrip.text),
                (
                    "server RSS",
                    report.serverRSSAfterMB.map {
                        "\($0.formatted(1)) MB held, \(report.serverRSSBeforeMB!.formatted(1)) MB before"
                    } ?? "unknown (no --server-pid)"
                ),
                (
                    "per connection",
                    report.serverBytesPerConnection.map { "\(($0 / 1024).formatted(2)) KiB" } ?? "unknown"
                ),
            ]
        )
    }
}

struct BenchReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Store K messages, then J clients join with since at once; time to each whole backlog."
    )

    @OptionGroup var common: BenchOptions
    @Option(help: "Messages stored before the replays.") var messages = 1000
    @Option(help: "Clients reconnecting at once.") var clients = 100
    @Option(help: "Rounds of reconnects.") var repetitions = 3

    func validate() throws {
        guard (1...1_000_000).contains(messages), (1...19_000).contains(clients), (1...100).contains(repetitions) else {
            throw ValidationError("need 1 <= --messages <= 1000000, 1 <= --clients <= 19000, 1 <= --repetitions <= 100")
        }
    }

    func run() async throws {
        var options = ReplayBench.Options(url: common.url)
        options.messages = messages
        options.clients = clients
        options.repetitions = repetitions
        options.roomPrefix = common.roomPrefix
        let report = try await ReplayBench(options).run(progress: common.progress)
        try common.report(
            report,
            rows: [
                ("replays", "\(clients) clients x \(repetitions) rounds, \(report.messagesPerReplay) messages each"),
                ("replay time", report.replay.text),
                ("complete", report.complete ? "yes: consecutive ids, none missing" : "NO"),
                ("fill rate", "\(report.fillMessagesPerSecond.formatted()) messages/s"),
            ]
        )
        if !report.complete { throw ExitCode(1) }
    }
}

struct BenchStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Many senders, each in its own room, as fast as acks allow: durable messages committed per second."
    )

    @OptionGroup var common: BenchOptions
    @Option(help: "Senders, each in its own room.") var senders = 50
    @Option(help: "Unacknowledged messages per sender.") var window = 32
    @Option(help: "Seconds measured.") var duration = 10.0

    func validate() throws {
        guard (1...5000).contains(senders), window >= 1, duration > 0, duration <= 3600 else {
            throw ValidationError("need 1 <= --senders <= 5000, --window >= 1, 0 < --duration <= 3600")
        }
    }

    func run() async throws {
        var options = StoreBench.Options(urls: common.allURLs)
        options.senders = senders
        options.window = window
        options.duration = .milliseconds(Int64(duration * 1000))
        options.serverPID = common.serverPID
        options.roomPrefix = common.roomPrefix
        let report = try await StoreBench(options).run(progress: common.progress)
        try common.report(
            report,
            rows: [
                (
                    "committed/s",
                    report.committedPerSecond.formatted() + (report.nodes > 1 ? " over \(report.nodes) nodes" : "")
                ),
                ("ack latency", report.ackLatency.text),
                ("mean commit batch", report.meanCommitBatch.map { $0.formatted(1) } ?? "unknown (no /metrics)"),
                ("lost / errors", "\(report.lost) / \(report.errors)"),
                ("generator CPU", "\(report.generatorCPUPercent.formatted())%"),
                ("server CPU", report.serverCPUPercent.map { "\($0.formatted())%" } ?? "unknown (no --server-pid)"),
            ]
        )
        if report.lost > 0 { throw ExitCode(1) }
    }
}
