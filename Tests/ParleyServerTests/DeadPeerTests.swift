import Foundation
import ParleyChat
import Testing

/// Connections that hold resources without doing anything: slow requests, silent sockets,
/// connections that never join.
@Suite struct DeadPeerTests {
    @Test func aConnectionThatJoinsNothingIsClosedInTime() async throws {
        // Long enough that the member's own join is done in time on a loaded machine.
        let chat = ChatConfiguration(rateLimits: .unlimited, joinTimeout: .seconds(8))
        try await TestServer.with(chat: chat) { server async throws in
            let member = try await server.member("r", nick: "member")
            let idle = try await ChatClient.connect(server.url)
            // Pings do not count as joining.
            try idle.send(["type": "ping", "ref": "p"])
            #expect(try await idle.closeCode(timeout: .seconds(30)) == 1008)
            // The member who joined, longer ago than that, stays.
            try member.send(["type": "ping", "ref": "still"])
            #expect(try await member.next(ofType: "pong").ref == "still")
        }
    }

    @Test func aSlowlorisRequestIsCutOffAndACompleteOneIsNot() async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await TestServer(directory: directory, timeouts: (.seconds(2), .seconds(30)))
        // Half an upgrade request, and then nothing.
        let partial = try await RawHTTP.open(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n",
            port: server.port,
            timeout: .milliseconds(100)
        )
        let start = ContinuousClock.now
        #expect(await partial.readUntilClosed(timeout: .seconds(20)) != nil)
        #expect(ContinuousClock.now - start < .seconds(15))
        // A WebSocket that completed its upgrade outlives the deadline.
        let client = try await server.member("r", nick: "patient")
        try await Task.sleep(for: .seconds(3))
        try client.send(["type": "ping", "ref": "p"])
        #expect(try await client.next(ofType: "pong").ref == "p")
        try await server.stop()
    }

    @Test func aPeerThatDoesNotAnswerPingsIsClosed() async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await TestServer(directory: directory, timeouts: (.seconds(15), .seconds(2)))
        // A raw socket answers nothing, pings included.
        let silent = try await RawHTTP.open(RawHTTP.upgradeRequest(port: server.port), port: server.port)
        silent.sendText(#"{"type":"join","room":"r","nick":"silent"}"#)
        let start = ContinuousClock.now
        #expect(await silent.readUntilClosed(timeout: .seconds(30)) != nil)
        #expect(ContinuousClock.now - start < .seconds(20))
        // A client that answers pings (the WebSocket client does) stays.
        let alive = try await server.member("r", nick: "alive")
        try await Task.sleep(for: .seconds(3))
        try alive.send(["type": "ping", "ref": "p"])
        #expect(try await alive.next(ofType: "pong").ref == "p")
        try await server.stop()
    }
}
