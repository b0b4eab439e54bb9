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
        let executable = try #require(Self.parleyExecutable(), "the parley executable was not built")

        let process = Process()
        process.executableURL = executable
        process.arguments = ["serve", "--port", "0"]
        // No --db and no --web-root: the database lands in the working directory, and the page is
        // found from the binary's location.
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["PARLEY_HOST"] = "127.0.0.1"
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        try process.run()

        let port = try await Self.waitForPort(in: errors.fileHandleForReading)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("parley.sqlite").path))
        let client = try await ChatClient.connect("ws://127.0.0.1:\(port)/ws")
        try await client.join("bin", nick: "bin")
        try client.send(["type": "say", "room": "bin", "text": "bye", "ref": "1"])
        _ = try await client.next(ofType: "ack")

        process.terminate()  // SIGTERM
        #expect(try await client.closeCode() == 1001)
        let deadline = ContinuousClock.now + .seconds(15)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning)
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
    }

    /// The `parley` binary built next to the test bundle.
    static func parleyExecutable() -> URL? {
        let candidates = [
            Bundle.main.executableURL?.deletingLastPathComponent(),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
        ]
        for folder in candidates.compactMap({ $0 }) {
            for url in [
                folder, folder.deletingLastPathComponent(),
                folder.deletingLastPathComponent().deletingLastPathComponent(),
            ] {
                let candidate = url.appendingPathComponent("parley")
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory),
                    !isDirectory.boolValue,
                    FileManager.default.isExecutableFile(atPath: candidate.path)
                {
                    return candidate
                }
            }
        }
        return nil
    }

    /// Reads the server's log until the line with the URL, and returns the port in it.
    static func waitForPort(in handle: FileHandle) async throws -> Int {
        let (chunks, continuation) = AsyncStream.makeStream(of: String.self)
        handle.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                continuation.finish()
            } else {
                continuation.yield(String(decoding: data, as: UTF8.self))
            }
        }
        var log = ""
        for await chunk in chunks {
            log += chunk
            if let match = log.firstMatch(of: /open http:\/\/127\.0\.0\.1:(\d+)\//), let port = Int(match.1) {
                return port
            }
        }
        throw TestFailure("the server exited without logging its URL:\n\(log)")
    }
}
