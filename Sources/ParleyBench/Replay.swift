import Foundation

/// The `replay` scenario: a room holds K messages; J clients join it at once with `since` (as
/// after a reconnect) and each is timed from its `join` to the end of its backlog.
public struct ReplayBench: Sendable {
    public struct Options: Sendable {
        public var url: String
        public var messages = 1000
        public var clients = 100
        public var repetitions = 3
        public var since: Int64 = 0
        public var roomPrefix = BenchNames.defaultRoomPrefix

        public init(url: String) { self.url = url }
    }

    public struct Report: Sendable, Codable {
        public var scenario = "replay"
        public var messages: Int
        public var clients: Int
        public var repetitions: Int
        public var fillMessagesPerSecond: Double
        /// From `join` sent to the whole `history` event received.
        public var replay: LatencySummary
        public var messagesPerReplay: Int
        /// Every replay held consecutive ids with nothing missing.
        public var complete: Bool
    }

    public let options: Options
    public init(_ options: Options) { self.options = options }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Report {
        let names = BenchNames(roomPrefix: options.roomPrefix)
        let room = names.room("replay")
        let writer = try await Requester.connect(options.url)
        _ = try await writer.join(room: room, nick: names.nick("w"))
        let fillStart = monotonicNanoseconds()
        // 64 in flight: as fast as the store takes them.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<64 {
                group.addTask {
                    for index in stride(from: lane, to: options.messages, by: 64) {
                        _ = try await writer.request(
                            #"{"type":"say","room":"\#(room)","text":"replay message \#(index)","ref":"w\#(index)"}"#,
                            ref: "w\(index)"
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        let fillSeconds = Double(monotonicNanoseconds() - fillStart) / 1e9
        progress("stored \(options.messages) messages")

        var durations: [Int64] = []
        var sizes: Set<Int> = []
        var complete = true
        for repetition in 0..<options.repetitions {
            var joiners: [Requester] = []
            for _ in 0..<options.clients { joiners.append(try await Requester.connect(options.url)) }
            let results = try await withThrowingTaskGroup(of: (Int64, String).self) { group in
                for (index, joiner) in joiners.enumerated() {
                    group.addTask {
                        let start = monotonicNanoseconds()
                        let history = try await joiner.join(
                            room: room,
                            nick: names.nick("j\(repetition)x\(index)"),
                            since: options.since
                        )
                        return (monotonicNanoseconds() - start, history)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for (duration, history) in results {
                durations.append(duration)
                let ids = Self.ids(in: history)
                sizes.insert(ids.count)
                let expected = min(options.messages - Int(options.since), 1000)
                if ids.count != expected || ids != Array(ids.first.map { $0..<($0 + Int64(ids.count)) } ?? 0..<0) {
                    complete = false
                }
            }
            for joiner in joiners { await joiner.close() }
            progress("replay \(repetition + 1) of \(options.repetitions) done")
        }
        await writer.close()
        return Report(
            messages: options.messages,
            clients: options.clients,
            repetitions: options.repetitions,
            fillMessagesPerSecond: Double(options.messages) / fillSeconds,
            replay: LatencySummary(nanoseconds: durations),
            messagesPerReplay: sizes.max() ?? 0,
            complete: complete && sizes.count == 1
        )
    }

    /// The message ids of a `history` event, in order.
    static func ids(in history: String) -> [Int64] {
        var history = history
        return history.withUTF8 { bytes in
            var ids: [Int64] = []
            var position = 0
            while let found = bytes.offset(of: #""id":"#, from: position) {
                position = found + 5
                if let id: Int64 = bytes.number(at: position) { ids.append(id) }
            }
            return ids
        }
    }
}
