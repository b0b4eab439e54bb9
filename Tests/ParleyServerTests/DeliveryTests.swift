import Foundation
import Testing

/// Delivery guarantees beyond the happy path: idempotent sends, resumed sessions, crashes.
@Suite struct DeliveryTests {
    @Test func aRepeatedMIDIsAcknowledgedWithTheOriginalIDAndStoredOnce() async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var server = try await TestServer(directory: directory)
        let alice = try await server.member("general", nick: "alice")
        let bob = try await server.member("general", nick: "bob")
        _ = try await alice.next(ofType: "presence")

        try alice.send(["type": "say", "room": "general", "text": "once", "mid": "m-1", "ref": "a"])
        let message = try await alice.next(ofType: "message")
        #expect(message.mid == "m-1")
        #expect(try await alice.next() == Event(type: "ack", ref: "a", id: 1))
        #expect(try await bob.next() == message)

        // The retry (same mid, even with other text) is acknowledged with the first id; nobody
        // sees a second message.
        try alice.send(["type": "say", "room": "general", "text": "once, again", "mid": "m-1", "ref": "b"])
        #expect(try await alice.next() == Event(type: "ack", ref: "b", id: 1))
        // Two says with one mid in the same batch: one message.
        try alice.send(["type": "say", "room": "general", "text": "twin", "mid": "m-2", "ref": "c"])
        try alice.send(["type": "say", "room": "general", "text": "twin", "mid": "m-2", "ref": "d"])
        #expect(try await alice.next(ofType: "message").id == 2)
        #expect(try await alice.next() == Event(type: "ack", ref: "c", id: 2))
        #expect(try await alice.next() == Event(type: "ack", ref: "d", id: 2))
        // The same mid in another room is another message.
        try await alice.join("other")
        try alice.send(["type": "say", "room": "other", "text": "elsewhere", "mid": "m-1", "ref": "e"])
        #expect(try await alice.next(ofType: "ack") == Event(type: "ack", ref: "e", id: 1))
        _ = try await bob.next(ofType: "message")
        try await bob.expectNoMessages(for: .milliseconds(200))

        // After a restart the mid is still known.
        await alice.close()
        try await server.stop()
        server = try await TestServer(directory: directory)
        let again = try await server.member("general", nick: "alice")
        try again.send(["type": "say", "room": "general", "text": "once", "mid": "m-1", "ref": "f"])
        #expect(try await again.next() == Event(type: "ack", ref: "f", id: 1))
        try again.send(["type": "history", "room": "general", "ref": "h"])
        let history = try await again.next()
        #expect(history.messages?.map(\.text) == ["once", "twin"])
        #expect(history.messages?.map(\.mid) == ["m-1", "m-2"])
        try await server.stop()
    }

    @Test(arguments: [#""""#, #"5"#, #"null"#, "\"\(String(repeating: "x", count: 65))\"", #""a\u0007b""#])
    func aMalformedMIDIsABadRequest(_ mid: String) async throws {
        try await TestServer.with { server async throws in
            let client = try await server.member("r", nick: "m")
            client.send(#"{"type":"say","room":"r","text":"x","ref":"1","mid":\#(mid)}"#)
            let reply = try await client.next()
            if mid == "null" {  // null counts as absent
                #expect(reply.type == "message")
            } else {
                #expect(reply.type == "error")
                #expect(reply.code == "bad_request")
                #expect(reply.ref == "1")
                try await client.expectNoMessages(for: .milliseconds(100))
            }
        }
    }
}
