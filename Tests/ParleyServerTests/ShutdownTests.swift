import Foundation
import Testing

/// Graceful shutdown: everything accepted is committed, clients get 1001.
@Suite struct ShutdownTests {
    @Test func shutdownCommitsAcceptedMessagesAndCloses1001() async throws {
        let server = try await TestServer()
        let client = try await server.member("last-words", nick: "speaker")
        for index in 1...50 {
            try client.send(["type": "say", "room": "last-words", "text": "m\(index)", "ref": "\(index)"])
        }
        // Wait until the server has taken the says, not until they are acknowledged.
        try client.send(["type": "ping", "ref": "sync"])
        _ = try await client.next(ofType: "pong", timeout: .seconds(10))
        try await server.stop()
        #expect(try await client.closeCode() == 1001)

        let restarted = try await TestServer(directory: server.directory)
        let reader = try await ChatClient.connect(restarted.url)
        try reader.send(["type": "history", "room": "last-words", "limit": 200, "ref": "h"])
        let history = try await reader.next()
        #expect(history.messages?.map(\.text) == (1...50).map { "m\($0)" })
        try await restarted.stop()
    }

    @Test func theBinaryStartsWithDefaultsAndStopsOnSIGTERM() async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // No --db and no --web-root: the database lands in the working directory, and the page is
        // found from the binary's location.
        let server = try await ServerProcess(directory: directory)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("parley.sqlite").path))
        let client = try await ChatClient.connect(server.webSocketURL)
        try await client.join("bin", nick: "bin")
        try client.send(["type": "say", "room": "bin", "text": "bye", "ref": "1"])
        _ = try await client.next(ofType: "ack")

        let stopping = Task { try await server.stop() }
        #expect(try await client.closeCode() == 1001)
        #expect(try await stopping.value == 0)
        #expect(server.process.terminationReason == .exit)
    }
}
