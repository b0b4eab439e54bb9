import Foundation
import Testing

/// `GET /metrics` in Prometheus text format, counting what happens.
@Suite struct MetricsTests {
    @Test func countsConnectionsMessagesDeliveriesAndReplays() async throws {
        try await TestServer.with { server async throws in
            let alice = try await server.member("r", nick: "alice")
            let bob = try await server.member("r", nick: "bob")
            _ = try await server.member("other", nick: "carol")
            _ = try await alice.next(ofType: "presence")
            try await alice.say(in: "r", ["one", "two", "three"])
            for _ in 0..<3 { _ = try await bob.next(ofType: "message") }
            let late = try await server.member("r", nick: "late")  // replays 3

            let values = try await server.metrics()
            #expect(values["parley_connections"] == 4)
            #expect(values["parley_rooms"] == 2)
            #expect(values["parley_room_members"] == 4)
            #expect(values["parley_messages_received_total"] == 3)
            #expect(values["parley_messages_committed_total"] == 3)
            #expect(values["parley_message_deliveries_total"] == 6)  // 3 messages to 2 members
            #expect(values["parley_messages_replayed_total"] == 3)
            #expect(values["parley_commit_batch_size_count"] ?? 0 >= 1)
            #expect(values["parley_commit_duration_seconds_count"] ?? 0 >= 1)
            #expect(values["parley_store_errors_total"] == 0)
            // The three messages of `r`, kept for replays: a few hundred bytes.
            #expect((100...2_000).contains(values["parley_recent_messages_bytes"] ?? 0))
            await late.close()
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await server.metrics()["parley_connections"] == 3)
        }
    }

    @Test func countsConnectionsAndCommandsPerTransport() async throws {
        try await TestServer.with { server async throws in
            let alice = try await server.member("r", nick: "alice", over: .webSocket)
            let bob = try await server.member("r", nick: "bob", over: .eventStream)
            let carol = try await server.member("r", nick: "carol", over: .eventStream)
            try await bob.say(in: "r", ["one", "two"])
            try bob.send(["type": "ping", "ref": "p"])
            #expect(try await bob.next(ofType: "pong").ref == "p")

            func perTransport(_ name: String) async throws -> (webSocket: Double?, eventStream: Double?) {
                let values = try await server.metrics()
                return (
                    values[#"\#(name){transport="websocket"}"#],
                    values[#"\#(name){transport="event_stream"}"#]
                )
            }
            #expect(try await perTransport("parley_transport_connections") == (1, 2))
            #expect(try await perTransport("parley_transport_connections_opened_total") == (1, 2))
            // A join each; bob's two says and a ping.
            #expect(try await perTransport("parley_transport_commands_total") == (1, 5))

            await carol.close()
            await alice.close()
            #expect(
                try await HistoryTests.eventually { try await perTransport("parley_transport_connections") == (0, 1) },
                "closed connections are no longer counted"
            )
            #expect(try await perTransport("parley_transport_connections_opened_total") == (1, 2))
            #expect(try await server.metrics()["parley_connections"] == 1)
        }
    }
}
