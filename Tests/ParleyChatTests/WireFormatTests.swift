import Foundation
import NIOCore
import ParleyChat
import ParleyCore
import Testing

@Suite struct WireFormatTests {
    func object(_ buffer: ByteBuffer) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
    }

    @Test func eventsAreValidJSONWhateverTheText() throws {
        let texts = [
            "plain", "quote \" backslash \\ slash /", "new\nline\ttab", "\u{1}\u{1F}", "emoji 🦜 and 小千",
            "</script><img src=x onerror=alert(1)>",
        ]
        for text in texts {
            let message = ChatMessage(room: RoomName("r")!, id: 7, nick: "n", text: text, createdAt: 0)
            let decoded = try object(ServerEvent.message(message))
            #expect(decoded["text"] as? String == text)
            #expect(decoded["type"] as? String == "message")
            #expect(decoded["id"] as? Int == 7)
            #expect(decoded["ts"] as? String == "1970-01-01T00:00:00.000Z")
        }
        let error = try object(ServerEvent.error(ChatError(.badRequest, "a \"quoted\" word"), ref: "r\n1"))
        #expect(error["message"] as? String == "a \"quoted\" word")
        #expect(error["ref"] as? String == "r\n1")
        #expect(try object(ServerEvent.pong(ref: nil)).keys.sorted() == ["type"])
    }

    /// Message events write their time straight into the frame; it must read exactly as the
    /// string formatter writes it.
    @Test(arguments: [0, 1, 9, 10, 99, 1_000_000, -1, -10, Int64.max, Int64.min])
    func numbersAreWrittenAsJSONNumbers(_ id: Int64) throws {
        let written = String(buffer: ServerEvent.ack(id: id, ref: nil))
        #expect(written == #"{"type":"ack","id":\#(id)}"#)
    }

    @Test func messageTimesMatchTheFormatter() throws {
        var generator = SystemRandomNumberGenerator()
        let samples: [Int64] =
            [0, 1, 999, 86_399_999, 86_400_000, 951_782_400_123, 4_102_444_800_000, 253_402_300_799_999, -1]
            + (0..<2000).map { _ in Int64.random(in: 0...4_102_444_800_000, using: &generator) }
        for milliseconds in samples {
            let message = ChatMessage(room: RoomName("r")!, id: 1, nick: "n", text: "t", createdAt: milliseconds)
            let decoded = try object(ServerEvent.message(message))
            #expect(decoded["ts"] as? String == Timestamp.iso8601(milliseconds: milliseconds))
        }
    }

    @Test func timestampsAreUTCWithMilliseconds() throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        for milliseconds: Int64 in [
            0, 1, 999, 86_399_999, 951_782_400_123, 1_795_700_000_123, 4_102_444_800_000, -1, -86_400_001,
        ] {
            let message = ChatMessage(room: RoomName("r")!, id: 1, nick: "n", text: "t", createdAt: milliseconds)
            let ts = try #require(try object(ServerEvent.message(message))["ts"] as? String)
            let expected = formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
            #expect(ts == expected, "\(milliseconds)")
        }
    }

    @Test func decoderAcceptsEachCommand() throws {
        #expect(
            try ClientCommand.decode(#"{"type":"join","room":"Lobby","nick":"al","since":3,"ref":"r"}"#).command.get()
                == .join(room: RoomName("lobby")!, nick: Nick("al"), since: 3)
        )
        #expect(
            try ClientCommand.decode(#"{"type":"history","room":"x","before":9}"#).command.get()
                == .history(room: RoomName("x")!, page: .before(id: 9, limit: 50))
        )
        #expect(
            try ClientCommand.decode(#"{"type":"history","room":"x","after":0,"limit":200}"#).command.get()
                == .history(room: RoomName("x")!, page: .after(id: 0, limit: 200))
        )
        #expect(try ClientCommand.decode(#"{"type":"ping","extra":{"ignored":true}}"#).command.get() == .ping)
        #expect(ClientCommand.decode(#"{"type":"leave","room":"x","ref":"z"}"#).ref == "z")
        #expect(
            try ClientCommand.decode(#"{"type":"join","room":"x","nick":null}"#).command.get()
                == .join(room: RoomName("x")!, nick: nil, since: nil)
        )
    }
}
