import Foundation

/// The `connections` scenario: N idle connections that each join a room, held for a while; the
/// connect rate, the ping round trip while they are held, and the server's memory per connection.
public struct ConnectionsBench: Sendable {
    public struct Options: Sendable {
        public var url: String
        public var connections = 1000
        public var concurrency = 100
        public var roomSize = 50
        public var hold: Duration = .seconds(5)
        /// Connections that ping once a second while the others are held.
        public var pingers = 100
        public var serverPID: Int32?
        public var roomPrefix = BenchNames.defaultRoomPrefix

        public init(url: String) { self.url = url }
    }

    public struct Report: Sendable, Codable {
        public var scenario = "connections"
        public var connections: Int
        public var connected: Int
        /// Connections opened and joined per second.
        public var connectsPerSecond: Double
        public var pingRoundTrip: LatencySummary
        public var serverRSSBeforeMB: Double?
        public var serverRSSAfterMB: Double?
        /// (RSS held − RSS before) / connections.
        public var serverBytesPerConnection: Double?
        public var failures: Int
    }

    public let options: Options
    public init(_ options: Options) { self.options = options }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Report {
        FileLimit.raiseToMaximum()
        let names = BenchNames(roomPrefix: options.roomPrefix)
        let before = options.serverPID.flatMap(ProcessUsage.of(pid:))
        let start = monotonicNanoseconds()
        var open: [Requester] = []
        var failures = 0
        var next = 0
        while next < options.connections {
            let batch = next..<min(options.connections, next + options.concurrency)
            let opened = await withTaskGroup(of: Requester?.self) { group in
                for index in batch {
                    group.addTask {
                        guard let requester = try? await Requester.connect(options.url) else { return nil }
                        let room = names.room("k\(index / max(1, options.roomSize))")
                        guard (try? await requester.join(room: room, nick: names.nick("n\(index)"))) != nil else {
                            await requester.close()
                            return nil
                        }
                        return requester
                    }
                }
                return await group.reduce(into: [Requester]()) { list, item in if let item { list.append(item) } }
            }
            failures += batch.count - opened.count
            open += opened
            next = batch.upperBound
            if next % 1000 < options.concurrency { progress("\(open.count) connections open, \(failures) failed") }
        }
        let connectSeconds = Double(monotonicNanoseconds() - start) / 1e9

        var roundTrips: [Int64] = []
        let holdEnd = monotonicNanoseconds() + options.hold.nanoseconds
        var round = 0
        while monotonicNanoseconds() < holdEnd {
            let sample = open.shuffled().prefix(options.pingers)
            let ref = "p\(round)"
            let times = await withTaskGroup(of: Int64?.self) { group in
                for requester in sample {
                    group.addTask {
                        let sent = monotonicNanoseconds()
                        guard (try? await requester.request(#"{"type":"ping","ref":"\#(ref)"}"#, ref: ref)) != nil
                        else { return nil }
                        return monotonicNanoseconds() - sent
                    }
                }
                return await group.reduce(into: [Int64]()) { list, item in if let item { list.append(item) } }
            }
            roundTrips += times
            round += 1
            progress("holding \(open.count) connections; ping p50 \(LatencySummary(nanoseconds: times).p50) ms")
            try await Task.sleep(for: .seconds(1))
        }
        let after = options.serverPID.flatMap(ProcessUsage.of(pid:))
        for requester in open { await requester.close() }

        let perConnection = before.flatMap { before in
            after.map { Double($0.residentBytes - before.residentBytes) / Double(max(1, open.count)) }
        }
        return Report(
            connections: options.connections,
            connected: open.count,
            connectsPerSecond: Double(open.count) / connectSeconds,
            pingRoundTrip: LatencySummary(nanoseconds: roundTrips),
            serverRSSBeforeMB: before.map { Double($0.residentBytes) / 1_048_576 },
            serverRSSAfterMB: after.map { Double($0.residentBytes) / 1_048_576 },
            serverBytesPerConnection: perConnection,
            failures: failures
        )
    }
}

/// The generator's own open-file limit, raised as far as it may go: each connection is a file.
enum FileLimit {
    static func raiseToMaximum() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
