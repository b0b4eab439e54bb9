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
}
