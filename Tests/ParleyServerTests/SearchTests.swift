import Foundation
import Testing

/// Full-text search from the page: the `search` command and `GET /api/rooms/{room}/search`.
@Suite struct SearchTests {
    @Test func searchFindsWholeWordsInOneRoomNewestFirstPageByPage() async throws {
        try await TestServer.with { server async throws in
            let writer = try await server.member("trips", nick: "writer")
            try await writer.say(in: "trips", ["Lisbon in May", "the train to Porto", "lisbon again?", "nothing here"])
            try await writer.join("other")
            try await writer.say(in: "other", ["Lisbon elsewhere"])

            try writer.send(["type": "search", "room": "trips", "query": "lisbon", "ref": "s1"])
            let found = try await writer.next(ofType: "search")
            #expect(found.ref == "s1")
            #expect(found.room == "trips")
            #expect(found.messages?.map(\.id) == [1, 3])  // oldest first, only this room
            #expect(found.truncated == false)

            // Paging back: the newest match first, then the next page before it.
            try writer.send(["type": "search", "room": "trips", "query": "lisbon", "limit": 1, "ref": "s2"])
            let newest = try await writer.next(ofType: "search")
            #expect(newest.messages?.map(\.id) == [3])
            #expect(newest.truncated == true)
            try writer.send([
                "type": "search", "room": "trips", "query": "lisbon", "limit": 1, "before": 3, "ref": "s3",
            ])
            #expect(try await writer.next(ofType: "search").messages?.map(\.id) == [1])

            // The rules of `parley history --grep`: prefixes and phrases, punctuation taken literally.
            try writer.send(["type": "search", "room": "trips", "query": "\"train to\" Port*", "ref": "s4"])
            #expect(try await writer.next(ofType: "search").messages?.map(\.id) == [2])
            try writer.send(["type": "search", "room": "trips", "query": "again? AND (", "ref": "s5"])
            #expect(try await writer.next(ofType: "search").messages?.map(\.id) == [3])

            let http = try await HTTPTests.get(server, "/api/rooms/Trips/search?q=lisbon&limit=5")
            #expect(http.status == .ok)
            let page = try JSONDecoder().decode(Event.self, from: http.data)
            #expect(page.type == "search")
            #expect(page.messages?.map(\.text) == ["Lisbon in May", "lisbon again?"])
        }
    }

    @Test func aBadSearchIsRefusedClearlyAndCostsNothing() async throws {
        try await TestServer.with { server async throws in
            let client = try await server.member("trips", nick: "asker")
            let bad: [[String: any Sendable]] = [
                ["type": "search", "room": "trips"],
                ["type": "search", "room": "trips", "query": "  \"\" * OR "],
                ["type": "search", "room": "trips", "query": String(repeating: "a", count: 201)],
                ["type": "search", "room": "trips", "query": "x", "limit": 51],
                ["type": "search", "room": "trips", "query": "x", "before": -1],
                ["type": "search", "room": "trips", "query": 5],
                ["type": "search", "room": "no room", "query": "x"],
            ]
            for (index, command) in bad.enumerated() {
                var command = command
                command["ref"] = "b\(index)"
                try client.send(command)
                let reply = try await client.next()
                #expect(reply.type == "error", "\(command)")
                #expect(reply.ref == "b\(index)")
                #expect(reply.message?.isEmpty == false)
            }
            for path in [
                "/api/rooms/trips/search", "/api/rooms/trips/search?q=%22%22", "/api/rooms/trips/search?q=x&limit=0",
                "/api/rooms/trips/search?q=x&before=y", "/api/rooms/bad%20room/search?q=x",
            ] {
                let response = try await HTTPTests.get(server, path)
                #expect(response.status == .badRequest, "\(path)")
                #expect(try JSONDecoder().decode(Event.self, from: response.data).type == "error")
            }
            // The connection is still fine.
            try client.send(["type": "ping", "ref": "p"])
            #expect(try await client.next().type == "pong")
        }
    }

    @Test func theDirectorySaysWhenEachRoomLastSpoke() async throws {
        try await TestServer.with { server async throws in
            let client = try await server.member("busy", nick: "talker")
            try await client.say(in: "busy", ["hi"])
            try await client.join("silent")
            let response = try await HTTPTests.get(server, "/api/rooms")
            let object = try JSONSerialization.jsonObject(with: response.data) as? [String: [[String: Any]]]
            let rooms = try #require(object?["rooms"])
            #expect(rooms.map { $0["name"] as? String } == ["busy", "silent"])
            let last = try #require(rooms[0]["last_message_at"] as? String)
            #expect(ISO8601DateFormatter.withFractionalSeconds.date(from: last) != nil)
            #expect(rooms[1]["last_message_at"] == nil)
        }
    }
}

extension ISO8601DateFormatter {
    static var withFractionalSeconds: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
