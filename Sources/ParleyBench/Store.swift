import Foundation

/// The `store` scenario: many senders, each alone in its room, send as fast as acks allow, so
/// the figure is durable messages committed per second (an ack means "stored"). Commit batch
/// sizes come from the server's `/metrics`.
public struct StoreBench: Sendable {
    public struct Options: Sendable {
        /// The WebSocket URLs of the server, or of the nodes of a cluster (senders are spread
        /// over them).
        public var urls: [String]
        public var senders = 50
        public var window = 32
        public var warmup: Duration = .seconds(2)
        public var duration: Duration = .seconds(10)
        public var serverPID: Int32?
        public var roomPrefix = BenchNames.defaultRoomPrefix

        public init(url: String) { self.urls = [url] }
        public init(urls: [String]) { self.urls = urls }
    }

    public struct Report: Sendable, Codable {
        public var scenario = "store"
        public var senders: Int
        public var window: Int
        public var nodes: Int
        public var committedPerSecond: Double
        public var ackLatency: LatencySummary
        /// Mean messages per commit during the run, from `/metrics` (nil when unavailable).
        public var meanCommitBatch: Double?
        public var lost: Int
        public var errors: Int
        public var generatorCPUPercent: Double
        public var serverCPUPercent: Double?
    }

    public let options: Options
    public init(_ options: Options) { self.options = options }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Report {
        var fanout = FanoutBench.Options(urls: options.urls)
        fanout.rooms = options.senders
        fanout.clientsPerRoom = 1
        fanout.sendersPerRoom = 1
        fanout.window = options.window
        fanout.warmup = options.warmup
        fanout.duration = options.duration
        fanout.serverPID = options.serverPID
        fanout.roomPrefix = options.roomPrefix
        let before = options.urls.map(MetricsScrape.init(url:))
        let report = try await FanoutBench(fanout).run(progress: progress)
        let after = options.urls.map(MetricsScrape.init(url:))
        var meanBatch: Double?
        // Over every node: the batch sizes of all their commits.
        if !before.contains(where: { $0 == nil }), !after.contains(where: { $0 == nil }) {
            let batches = zip(before, after).reduce(0.0) { $0 + $1.1!.batchCount - $1.0!.batchCount }
            let messages = zip(before, after).reduce(0.0) { $0 + $1.1!.batchSum - $1.0!.batchSum }
            if batches > 0 { meanBatch = messages / batches }
        }
        return Report(
            senders: options.senders,
            window: options.window,
            nodes: options.urls.count,
            committedPerSecond: report.sendsPerSecond,
            ackLatency: report.ackLatency,
            meanCommitBatch: meanBatch,
            lost: report.lost,
            errors: report.errors,
            generatorCPUPercent: report.generatorCPUPercent,
            serverCPUPercent: report.serverCPUPercent
        )
    }
}

/// The commit batch histogram of a Parley server's `/metrics`, read with one plain HTTP GET.
struct MetricsScrape {
    var batchSum: Double
    var batchCount: Double

    /// `url` is the WebSocket URL (`ws://host:port/ws`); `nil` when the server has no metrics.
    init?(url: String) {
        guard let components = URLComponents(string: url), let host = components.host,
            let body = Self.get(host: host, port: components.port ?? 80, path: "/metrics")
        else { return nil }
        var sum: Double?
        var count: Double?
        for line in body.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2 else { continue }
            if parts[0] == "parley_commit_batch_size_sum" { sum = Double(parts[1]) }
            if parts[0] == "parley_commit_batch_size_count" { count = Double(parts[1]) }
        }
        guard let sum, let count else { return nil }
        batchSum = sum
        batchCount = count
    }

    private static func get(host: String, port: Int, path: String) -> String? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let address = result else { return nil }
        defer { freeaddrinfo(result) }
        let socket = Glibc.socket(address.pointee.ai_family, address.pointee.ai_socktype, 0)
        guard socket >= 0 else { return nil }
        defer { close(socket) }
        guard connect(socket, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 else { return nil }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n"
        guard request.withCString({ send(socket, $0, strlen($0), 0) }) > 0 else { return nil }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(socket, &chunk, chunk.count, 0)
            if count <= 0 { break }
            response += chunk[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 200") || text.hasPrefix("HTTP/1.0 200"),
            let bodyStart = text.range(of: "\r\n\r\n")
        else { return nil }
        return String(text[bodyStart.upperBound...])
    }
}
