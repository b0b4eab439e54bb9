import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import ParleyBench
import Testing

/// `parley bench` itself: it must count what a server really delivered, and notice a message
/// that went missing or came twice.
@Suite struct BenchTests {
    static func shortRun(_ url: String) -> FanoutBench.Options {
        var options = FanoutBench.Options(url: url)
        options.rooms = 2
        options.clientsPerRoom = 5
        options.sendersPerRoom = 2
        options.window = 2
        options.warmup = .milliseconds(200)
        options.duration = .seconds(1)
        options.drain = .seconds(3)
        return options
    }

    @Test(arguments: BenchTransport.allCases)
    func aFanoutAgainstParleyLosesAndDoublesNothing(_ transport: BenchTransport) async throws {
        try await TestServer.with { server async throws in
            var options = Self.shortRun(server.url)
            options.transport = transport
            let report = try await FanoutBench(options).run()
            #expect(report.received > 0)
            #expect(report.received == report.expected)
            #expect(report.lost == 0)
            #expect(report.duplicated == 0)
            #expect(report.errors == 0)
            #expect(report.deliveriesPerSecond > 0)
            #expect(report.latency.count > 0 && report.latency.p50 > 0)
        }
    }

    @Test(arguments: [FaultyChatServer.Fault.drop, .duplicate])
    func aFanoutNoticesAMessageThatWentMissingOrCameTwice(_ fault: FaultyChatServer.Fault) async throws {
        let server = try await FaultyChatServer.start(fault: fault)
        defer { server.stop() }
        var options = Self.shortRun(server.url)
        // Room for the late last delivery on a loaded machine: CI once needed more than 3 s for
        // it. A run that drops a message waits all of this; one that does not stops when done.
        options.drain = .seconds(10)
        let report = try await FanoutBench(options).run()
        #expect(report.received > 10)
        switch fault {
        case .drop:
            #expect(report.lost == 1)
            #expect(report.duplicated == 0)
            #expect(report.received == report.expected - 1)
        case .duplicate:
            #expect(report.lost == 0)
            #expect(report.duplicated == 1)
            #expect(report.received == report.expected + 1)
        }
    }

    /// Against a server with its limits on, refused load is reported as such, never as loss, and
    /// the rooms of the run cannot be mistaken for real ones.
    @Test func aServerWithItsLimitsOnIsReportedAsSuchNotAsLoss() async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await ServerProcess(directory: directory)  // the default limits
        let run = try await CommandRun.parley([
            "bench", "fanout", "--url", server.webSocketURL, "--rooms", "1", "--clients", "4", "--senders", "2",
            "--window", "8", "--warmup", "0.2", "--duration", "1.5", "--room-prefix", "loadtest-",
        ])
        #expect(run.status == 2, "\(run.output)\n\(run.errors)")
        #expect(run.errors.contains("The server's limits are on ("), "\(run.errors)")
        #expect(run.errors.contains("refused with rate_limited"))
        #expect(run.errors.contains(LimitsHit.unlimitedServe))
        #expect(run.output.contains("not measured: the server refused part of the load"), "\(run.output)")
        let rooms = try await CommandRun.parley(["rooms", "--db", "parley.sqlite", "--format", "jsonl"], in: directory)
        let names = rooms.lines.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["room"] as? String
        }
        #expect(!names.isEmpty && names.allSatisfy { $0.hasPrefix("loadtest-") }, "\(rooms.output)")
        try await server.stop()

        let bad = try await CommandRun.parley(["bench", "fanout", "--room-prefix", "no spaces"])
        #expect(bad.status != 0)
        #expect(bad.errors.contains("--room-prefix may hold only letters, digits"))
    }

    @Test func replayAndStoreRunAgainstParley() async throws {
        try await TestServer.with { server async throws in
            var replay = ReplayBench.Options(url: server.url)
            replay.messages = 120
            replay.clients = 5
            replay.repetitions = 2
            let replayed = try await ReplayBench(replay).run()
            #expect(replayed.complete)
            #expect(replayed.messagesPerReplay == 120)
            #expect(replayed.replay.count == 10)

            var store = StoreBench.Options(url: server.url)
            store.senders = 4
            store.window = 8
            store.warmup = .milliseconds(100)
            store.duration = .seconds(1)
            let stored = try await StoreBench(store).run()
            #expect(stored.committedPerSecond > 0)
            #expect(stored.lost == 0)
            #expect((stored.meanCommitBatch ?? 0) >= 1)

            var connections = ConnectionsBench.Options(url: server.url)
            connections.connections = 40
            connections.hold = .milliseconds(500)
            connections.pingers = 10
            connections.serverPID = getpid()
            let held = try await ConnectionsBench(connections).run()
            #expect(held.connected == 40)
            #expect(held.pingRoundTrip.count >= 10)
            #expect(held.serverBytesPerConnection != nil)
        }
    }
}

/// A chat server that speaks just enough of protocol v1 for `parley bench fanout`, and breaks
/// its promise once: the tenth delivery to the first member is dropped, or sent twice.
final class FaultyChatServer: Sendable {
    enum Fault: Sendable, CustomTestStringConvertible {
        case drop, duplicate
        var testDescription: String { self == .drop ? "drop" : "duplicate" }
    }

    let port: Int
    private let task: Task<Void, any Error>
    var url: String { "ws://127.0.0.1:\(port)/ws" }

    private init(port: Int, task: Task<Void, any Error>) {
        self.port = port
        self.task = task
    }

    func stop() { task.cancel() }

    static func start(fault: Fault) async throws -> FaultyChatServer {
        let rooms = Rooms(fault: fault)
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("/ws") { inbound, outbound, _ in
            let member = UUID()
            for try await message in inbound.messages(maxSize: 1 << 20) {
                guard case .text(let text) = message,
                    let command = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                    let room = command["room"] as? String
                else { continue }
                let ref = command["ref"] as? String ?? ""
                switch command["type"] as? String {
                case "join":
                    await rooms.join(room, member: member, outbound: outbound)
                    try await outbound.write(.text(#"{"type":"joined","room":"\#(room)","ref":"\#(ref)"}"#))
                    try await outbound.write(.text(#"{"type":"history","room":"\#(room)","messages":[]}"#))
                case "say":
                    let id = try await rooms.broadcast(room, text: command["text"] as? String ?? "")
                    try await outbound.write(.text(#"{"type":"ack","ref":"\#(ref)","id":\#(id)}"#))
                default:
                    continue
                }
            }
        }
        var logger = Logger(label: "faulty-server")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: Router(),
            server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) },
            logger: logger
        )
        let task = Task { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("the faulty server did not start") }
        return FaultyChatServer(port: port, task: task)
    }

    actor Rooms {
        let fault: Fault
        var members: [String: [(UUID, WebSocketOutboundWriter)]] = [:]
        var nextID = 0
        var deliveriesToFirst = 0
        /// The newest message to the last member of the first room, not written yet: it goes out
        /// before the next one, or on its own after ``lateBy``. So the run's very last delivery
        /// comes late, as on a loaded server, and the bench must wait for it.
        var late: (id: Int, frame: String, outbound: WebSocketOutboundWriter)?
        static let lateBy = Duration.milliseconds(300)

        init(fault: Fault) { self.fault = fault }

        func join(_ room: String, member: UUID, outbound: WebSocketOutboundWriter) {
            members[room, default: []].append((member, outbound))
        }

        func broadcast(_ room: String, text: String) async throws -> Int {
            nextID += 1
            let id = nextID
            let frame = #"{"type":"message","room":"\#(room)","id":\#(id),"text":"\#(text)"}"#
            let roomMembers = members[room] ?? []
            for (index, (_, outbound)) in roomMembers.enumerated() {
                var copies = 1
                if index == 0 && room.hasSuffix("r0") {
                    deliveriesToFirst += 1
                    // Early: on a loaded machine (CI runs the browser tests alongside) a one-second
                    // run may carry only a few messages per room.
                    if deliveriesToFirst == 3 { copies = fault == .drop ? 0 : 2 }
                }
                if index == roomMembers.count - 1 && room.hasSuffix("r0") {
                    let earlier = late
                    late = (id, frame, outbound)
                    if let earlier { try await earlier.outbound.write(.text(earlier.frame)) }
                    Task {
                        try await Task.sleep(for: Self.lateBy)
                        try await self.writeLate(id)
                    }
                    continue
                }
                for _ in 0..<copies { try await outbound.write(.text(frame)) }
            }
            return id
        }

        private func writeLate(_ id: Int) async throws {
            guard let late, late.id == id else { return }
            self.late = nil
            try await late.outbound.write(.text(late.frame))
        }
    }
}
