import Foundation
import Logging
import NIOCore
import ParleyChat
import ParleyServer
import Testing

/// A real Parley server on a free loopback port, with its database in a temporary folder.
final class TestServer: Sendable {
    let port: Int
    let directory: URL
    let databasePath: String
    let server: ParleyServer
    private let task: Task<Void, any Error>

    var url: String { "ws://127.0.0.1:\(port)/ws" }

    /// The repository's `web/` folder (the servers of the tests serve the copy built into the
    /// binary unless told otherwise).
    static var webRoot: String {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("web").path
    }

    static func makeDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("parley-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    static var logger: Logger {
        var logger = Logger(label: "parley-test")
        logger.logLevel = .warning
        return logger
    }

    /// Limits off, so that tests of other things can send as fast as they like from one address;
    /// the tests of the limits set their own.
    static let unlimited: (ChatConfiguration, AdmissionLimits) = (
        ChatConfiguration(rateLimits: .unlimited),
        AdmissionLimits(maxConnections: 0, maxConnectionsPerAddress: 0, connectBurstPerAddress: 0)
    )

    /// Starts a server; `directory` reuses the database of an earlier one.
    init(
        directory: URL? = nil,
        historyOnJoin: Int = 50,
        webRoot: String? = nil,
        chat: ChatConfiguration = TestServer.unlimited.0,
        admission: AdmissionLimits = TestServer.unlimited.1,
        maxMessageBytes: Int = 65536,
        busyTimeout: Double = 5,
        timeouts: (request: Duration, ping: Duration) = (.seconds(15), .seconds(30)),
        onConnection: (@Sendable (any Channel) -> Void)? = nil
    ) async throws {
        let directory = try directory ?? Self.makeDirectory()
        self.directory = directory
        self.databasePath = directory.appendingPathComponent("parley.sqlite").path
        var chat = chat
        chat.historyOnJoin = historyOnJoin
        let configuration = ServerConfiguration(
            host: "127.0.0.1",
            port: 0,
            databasePath: databasePath,
            // PARLEY_TEST_WEB_ROOT serves another copy of the page, e.g. an older one, to check
            // that a new browser test fails on it.
            webRoot: webRoot ?? ProcessInfo.processInfo.environment["PARLEY_TEST_WEB_ROOT"],
            chat: chat,
            admission: admission,
            maxMessageBytes: maxMessageBytes,
            busyTimeout: busyTimeout,
            requestTimeout: timeouts.request,
            pingInterval: timeouts.ping
        )
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let server = try ParleyServer(
            configuration: configuration,
            logger: Self.logger,
            handlesSignals: false,
            onRunning: { port in portContinuation.yield(port) },
            onConnection: onConnection
        )
        self.server = server
        self.task = Task { try await server.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("server did not start") }
        self.port = port
    }

    /// A new client that has joined `room` as `nick` (its `joined` and `history` consumed).
    func member(_ room: String, nick: String, over transport: Transport = .webSocket) async throws -> ChatClient {
        let client = try await ChatClient.connect(url, transport: transport)
        try await client.join(room, nick: nick)
        return client
    }

    /// Shuts the server down the way SIGTERM does and waits until it has stopped.
    func stop() async throws {
        await server.shutDown()
        try await task.value
    }

    /// Runs `body` against a fresh server, then stops it and removes its files.
    static func with<T>(
        historyOnJoin: Int = 50,
        webRoot: String? = nil,
        chat: ChatConfiguration = TestServer.unlimited.0,
        admission: AdmissionLimits = TestServer.unlimited.1,
        maxMessageBytes: Int = 65536,
        onConnection: (@Sendable (any Channel) -> Void)? = nil,
        _ body: (TestServer) async throws -> T
    ) async throws -> T {
        let server = try await TestServer(
            historyOnJoin: historyOnJoin,
            webRoot: webRoot,
            chat: chat,
            admission: admission,
            maxMessageBytes: maxMessageBytes,
            onConnection: onConnection
        )
        do {
            let result = try await body(server)
            try await server.stop()
            try? FileManager.default.removeItem(at: server.directory)
            return result
        } catch {
            try? await server.stop()
            try? FileManager.default.removeItem(at: server.directory)
            throw error
        }
    }
}

extension TestServer {
    /// The server's `GET /metrics`, as a map from sample name to value.
    func metrics() async throws -> [String: Double] {
        let request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n"
        let response = try await RawHTTP.exchange(request, port: port)
        #expect(RawHTTP.status(response) == 200)
        #expect(response.lowercased().contains("content-type: text/plain; version=0.0.4"))
        var values: [String: Double] = [:]
        for line in response.split(separator: "\n") where line.hasPrefix("parley_") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Double(parts[1]) { values[String(parts[0])] = value }
        }
        return values
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
