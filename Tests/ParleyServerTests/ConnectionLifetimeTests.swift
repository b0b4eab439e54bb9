import Foundation
import NIOCore
import ParleyChat
import ParleyServer
import Synchronization
import Testing

/// Weak references to every channel a server accepted: a closed connection must be freed, or a
/// server left running for weeks grows by every connection it ever served.
final class ChannelWatch: Sendable {
    private struct WeakChannel: Sendable {
        weak var channel: (any Channel)?
    }

    private let channels = Mutex<[WeakChannel]>([])

    func record(_ channel: any Channel) {
        channels.withLock { $0.append(WeakChannel(channel: channel)) }
    }

    var accepted: Int { channels.withLock { $0.count } }
    var alive: Int { channels.withLock { $0.count(where: { $0.channel != nil }) } }

    /// Waits until every recorded channel has been freed; fails with how many are left.
    func expectAllFreed(within limit: Duration = .seconds(10), _ what: String) async throws {
        let deadline = ContinuousClock.now + limit
        while alive > 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(alive == 0, "\(alive) of \(accepted) channels still alive after \(what)")
    }
}

@Suite struct ConnectionLifetimeTests {
    static func server(
        _ watch: ChannelWatch,
        chat: ChatConfiguration = ChatConfiguration(rateLimits: .unlimited, sessionGrace: .zero)
    ) async throws -> TestServer {
        try await TestServer(chat: chat, onConnection: { watch.record($0) })
    }

    @Test func connectionsTheClientClosesAreFreed() async throws {
        let watch = ChannelWatch()
        let server = try await Self.server(watch)
        defer { try? FileManager.default.removeItem(at: server.directory) }
        for round in 0..<3 {
            var clients: [ChatClient] = []
            for index in 0..<10 {
                let client = try await server.member("leak", nick: "c\(round)-\(index)")
                try client.send(["type": "say", "room": "leak", "text": "hi", "ref": "s"])
                _ = try await client.next(ofType: "ack")
                clients.append(client)
            }
            for client in clients { await client.close() }
            // Plain HTTP requests, each on a connection of its own.
            for path in ["/", "/healthz", "/api/rooms"] {
                let response = try await RawHTTP.exchange(
                    "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                    port: server.port
                )
                #expect(RawHTTP.status(response) == 200)
            }
        }
        #expect(watch.accepted == 3 * (10 + 3))
        try await watch.expectAllFreed("clients closed their connections")
        try await server.stop()
    }

    /// A client that vanishes without a close frame (a killed process, a phone's dropped
    /// socket) is noticed as soon as its FIN arrives, not at the next ping: the others see it
    /// leave, and its channel is freed.
    @Test func aConnectionDroppedWithoutACloseFrameIsFreedAtOnce() async throws {
        let watch = ChannelWatch()
        let server = try await Self.server(watch)
        defer { try? FileManager.default.removeItem(at: server.directory) }
        let observer = try await server.member("drop", nick: "observer")
        let dropped = try await RawHTTP.open(RawHTTP.upgradeRequest(port: server.port), port: server.port)
        dropped.sendText(#"{"type":"join","room":"drop","nick":"dropper"}"#)
        #expect(try await observer.next(ofType: "presence").event == "join")
        // Everything the server sent is read first, so that closing sends a FIN, not a reset.
        _ = await dropped.readAll(timeout: .milliseconds(300))
        dropped.close()
        let start = ContinuousClock.now
        let leave = try await observer.next(ofType: "presence", timeout: .seconds(25))
        #expect(leave.nick == "dropper" && leave.event == "leave")
        // Generous for a loaded machine, and still well before the first ping at 30 s.
        #expect(ContinuousClock.now - start < .seconds(10), "noticed at the FIN, not at a ping 30 s later")
        await observer.close()
        try await watch.expectAllFreed(within: .seconds(3), "a client dropped its socket")
        try await server.stop()
    }

    @Test func connectionsTheServerClosesAreFreed() async throws {
        let watch = ChannelWatch()
        let limits = RateLimits(
            sayBurst: 2,
            sayPerSecond: 0.1,
            commandBurst: 50,
            commandPerSecond: 1,
            maxRefusalsInARow: 3
        )
        let chat = ChatConfiguration(
            rateLimits: limits,
            // Long enough for a connect and join on a loaded CI machine, short enough to wait for.
            joinTimeout: .seconds(4),
            sessionGrace: .seconds(30)  // held members must not hold their old connection's socket
        )
        let server = try await Self.server(watch, chat: chat)
        defer { try? FileManager.default.removeItem(at: server.directory) }

        // A flooder, closed with 1008 by the rate limit.
        let flooder = try await server.member("r", nick: "flooder")
        for index in 0..<10 { try flooder.send(["type": "say", "room": "r", "text": "\(index)"]) }
        #expect(try await flooder.closeCode() == 1008)
        // A connection that never joins, closed with 1008 by the join timeout.
        let idle = try await ChatClient.connect(server.url)
        #expect(try await idle.closeCode(timeout: .seconds(10)) == 1008)
        // A frame rule broken (a binary message), closed with 1003.
        let binary = try await server.member("r", nick: "binary")
        binary.sendFrame(.init(fin: true, opcode: .binary, data: ByteBuffer(bytes: [1, 2, 3])))
        #expect(try await binary.closeCode() == 1003)
        // A session taken over: the old connection is closed with 4001 (its member is held).
        let first = try await server.member("r", nick: "mover")
        try first.send(["type": "join", "room": "r2", "ref": "j"])
        let token = try #require(try await first.next(ofType: "joined").session)
        let second = try await ChatClient.connect(server.url)
        try second.send(["type": "join", "room": "r", "resume": token])
        _ = try await second.next(ofType: "joined")
        #expect(try await first.closeCode() == 4001)

        // Shutdown closes the rest with 1001.
        let stayer = try await server.member("r", nick: "stayer")
        try await server.stop()
        #expect(try await stayer.closeCode() == 1001)
        #expect(try await second.closeCode() == 1001)
        try await watch.expectAllFreed("the server closed every connection")
    }
}
