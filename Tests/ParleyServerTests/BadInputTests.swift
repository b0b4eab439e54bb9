import Foundation
import Testing

/// Every bad command gets its error, the connection stays open, nothing is stored, and no one
/// else notices.
@Suite struct BadInputTests {
    /// (frame sent, expected error code, whether the error carries the ref "r")
    static let cases: [(String, String, Bool)] = [
        ("not json", "bad_request", false),
        ("[1,2,3]", "bad_request", false),
        ("\"join\"", "bad_request", false),
        ("{}", "bad_request", false),
        (#"{"type":"dance","ref":"r"}"#, "bad_request", true),
        (#"{"type":7,"ref":"r"}"#, "bad_request", true),
        (#"{"type":"say","text":"no room","ref":"r"}"#, "bad_request", true),
        (#"{"type":"say","room":"lobby","ref":"r"}"#, "bad_request", true),
        (#"{"type":"say","room":"lobby","text":42,"ref":"r"}"#, "bad_request", true),
        (#"{"type":"say","room":["lobby"],"text":"x","ref":"r"}"#, "bad_request", true),
        (#"{"type":"join","room":"lobby","since":"5","ref":"r"}"#, "bad_request", true),
        (#"{"type":"join","room":"lobby","since":-1,"ref":"r"}"#, "bad_request", true),
        (#"{"type":"join","room":"lobby","since":1.5,"ref":"r"}"#, "bad_request", true),
        (#"{"type":"join","room":"lobby","nick":"someone-else","ref":"r"}"#, "bad_request", true),
        (#"{"type":"history","room":"lobby","limit":0,"ref":"r"}"#, "bad_request", true),
        (#"{"type":"history","room":"lobby","limit":201,"ref":"r"}"#, "bad_request", true),
        (#"{"type":"history","room":"lobby","before":3,"after":1,"ref":"r"}"#, "bad_request", true),
        (#"{"type":"ping","ref":12}"#, "bad_request", false),
        (#"{"type":"ping","ref":"\#(String(repeating: "x", count: 65))"}"#, "bad_request", false),
        (#"{"type":"join","room":"other","nick":"bad nick","ref":"r"}"#, "invalid_nick", true),
        (#"{"type":"join","room":"lobby","nick":"","ref":"r"}"#, "invalid_nick", true),
        (#"{"type":"join","room":"bad room","ref":"r"}"#, "invalid_room", true),
        (#"{"type":"join","room":"","ref":"r"}"#, "invalid_room", true),
        (#"{"type":"join","room":"lobby\n","ref":"r"}"#, "invalid_room", true),
        (#"{"type":"join","room":"\#(String(repeating: "r", count: 65))","ref":"r"}"#, "invalid_room", true),
        (#"{"type":"history","room":"../etc","ref":"r"}"#, "invalid_room", true),
        (#"{"type":"say","room":"lobby","text":"","ref":"r"}"#, "invalid_text", true),
        (#"{"type":"say","room":"lobby","text":" \n\t ","ref":"r"}"#, "invalid_text", true),
        (#"{"type":"say","room":"lobby","text":"bell\u0007","ref":"r"}"#, "invalid_text", true),
        (#"{"type":"say","room":"lobby","text":"cr\r\nlf","ref":"r"}"#, "invalid_text", true),
        (
            #"{"type":"say","room":"lobby","text":"\#(String(repeating: "y", count: 4001))","ref":"r"}"#, "too_large",
            true
        ),
        (#"{"type":"say","room":"elsewhere","text":"hi","ref":"r"}"#, "not_in_room", true),
        (#"{"type":"leave","room":"elsewhere","ref":"r"}"#, "not_in_room", true),
    ]

    @Test func eachBadCommandGetsItsErrorAndChangesNothing() async throws {
        try await TestServer.with { server async throws in
            let client = try await ChatClient.connect(server.url)
            let bystander = try await ChatClient.connect(server.url)
            try await client.join("lobby", nick: "tester")
            try await bystander.join("lobby", nick: "bystander")
            _ = try await client.next(ofType: "presence")

            for (frame, code, carriesRef) in Self.cases {
                client.send(frame)
                let error = try await client.next()
                #expect(error.type == "error", "\(frame)")
                #expect(error.code == code, "\(frame)")
                #expect(error.ref == (carriesRef ? "r" : nil), "\(frame)")
                #expect(!(error.message ?? "").isEmpty, "\(frame)")
            }
            // Still connected, nothing stored, the bystander saw nothing.
            try client.send(["type": "ping", "ref": "alive"])
            #expect(try await client.next() == Event(type: "pong", ref: "alive"))
            try client.send(["type": "history", "room": "lobby", "ref": "h"])
            #expect(try await client.next().messages == [])
            try await bystander.expectSilence()
        }
    }

    @Test func textLimitsCountUnicodeScalars() async throws {
        try await TestServer.with { server async throws in
            let client = try await server.member("lobby", nick: "limits")
            // 4000 scalars of 4 UTF-8 bytes each is accepted.
            let longest = String(repeating: "🦜", count: 4000)
            try client.send(["type": "say", "room": "lobby", "text": longest, "ref": "ok"])
            #expect(try await client.next().text == longest)
            #expect(try await client.next(ofType: "ack").id == 1)
            try client.send(["type": "say", "room": "lobby", "text": longest + "!", "ref": "over"])
            #expect(try await client.next().code == "too_large")
        }
    }

    @Test func nicksAndRoomsInAnyScript() async throws {
        try await TestServer.with { server async throws in
            let client = try await ChatClient.connect(server.url)
            let (joined, _) = try await client.join("Ελληνικά_1", nick: "नमस्ते-2")
            #expect(joined.room == "ελληνικά_1")
            #expect(joined.nick == "नमस्ते-2")
            for nick in ["a\u{200B}b", "<b>", "x\n", "\u{0301}a", String(repeating: "n", count: 33)] {
                let other = try await ChatClient.connect(server.url)
                try other.send(["type": "join", "room": "x", "nick": nick, "ref": "n"])
                #expect(try await other.next().code == "invalid_nick", "\(nick.debugDescription)")
                await other.close()
            }
        }
    }
}
