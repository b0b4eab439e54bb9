import Foundation
import NIOCore
import ParleyChat
import Testing

/// Clients that stop reading: they are dropped, and nobody else waits for them.
@Suite struct SlowConsumerTests {
    @Test func aClientThatNeverReadsIsClosedWhileOthersKeepReceiving() async throws {
        let chat = ChatConfiguration(maxQueuedBytes: 256 * 1024, rateLimits: .unlimited)
        let watch = ChannelWatch()
        let record: @Sendable (any Channel) -> Void = { watch.record($0) }
        try await TestServer.with(chat: chat, onConnection: record) { server async throws in
            // A raw socket that joins and then never reads a byte.
            let stalled = try await RawHTTP.open(RawHTTP.upgradeRequest(port: server.port), port: server.port)
            #expect(RawHTTP.status(stalled.response) == 101)
            stalled.sendText(#"{"type":"join","room":"busy","nick":"stalled"}"#)
            let sender = try await server.member("busy", nick: "sender")
            let reader = try await server.member("busy", nick: "reader")

            // About 8 MB into the room, far more than the socket buffers and the 256 KiB queue.
            let text = String(repeating: "x", count: 3900)
            let total = 2000
            // In bursts of 25 (about 100 KB), well under the queue limit of a client that reads.
            for batch in stride(from: 0, to: total, by: 25) {
                for index in batch..<(batch + 25) {
                    try sender.send(["type": "say", "room": "busy", "text": text, "ref": "\(index)"])
                }
                var acked = 0
                while acked < 25 { if try await sender.next(ofType: "ack").ref != nil { acked += 1 } }
            }
            // Every burst was acknowledged within `next`'s timeout, so the stalled client held
            // nothing up; the reader got every message, in order.
            var last: Int64 = 0
            while last < Int64(total) {
                let message = try await reader.next(ofType: "message")
                #expect(message.id == last + 1)
                last = message.id ?? last
            }
            // The stalled client was closed for not reading, and reading what was queued ends there.
            #expect(try await server.metrics()["parley_slow_consumer_disconnects_total"] == 1)
            let received = await stalled.readUntilClosed(timeout: .seconds(15))
            #expect(received != nil)
            #expect((received ?? 0) < 8_000_000)  // it never got the whole flood
            // What the dropped connection held is freed, like everyone else's once they leave.
            stalled.close()
            await sender.close()
            await reader.close()
            try await watch.expectAllFreed("a slow consumer was dropped")
        }
    }

    @Test func gracefulShutdownIsBoundedEvenWhenAClientDoesNotRead() async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await ServerProcess(
            directory: directory,
            arguments: ["--shutdown-timeout", "1", "--say-burst", "0"]
        )
        let stalled = try await RawHTTP.open(RawHTTP.upgradeRequest(port: server.port), port: server.port)
        stalled.sendText(#"{"type":"join","room":"busy","nick":"stalled"}"#)
        let sender = try await ChatClient.connect(server.webSocketURL)
        try await sender.join("busy", nick: "sender")
        // Enough to fill the socket buffers but not the 1 MiB queue: the server's writer for the
        // stalled client is stuck, and its close frame would wait behind the queue.
        let text = String(repeating: "y", count: 3900)
        for index in 0..<900 { try sender.send(["type": "say", "room": "busy", "text": text, "ref": "\(index)"]) }
        var acked = 0
        while acked < 900 { if try await sender.next(ofType: "ack").ref != nil { acked += 1 } }

        let start = ContinuousClock.now
        let status = try await server.stop(timeout: .seconds(20))
        #expect(status == 0)
        #expect(ContinuousClock.now - start < .seconds(8))
        #expect(try await sender.closeCode() == 1001)
        stalled.close()
    }
}
