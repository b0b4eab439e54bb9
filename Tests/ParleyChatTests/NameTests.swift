import ParleyCore
import Testing

@Suite struct NameTests {
    /// ASCII names are checked byte by byte, not by Unicode property: every ASCII character, alone
    /// and inside a name, must get the answer the Unicode rules give.
    @Test func asciiNamesFollowTheUnicodeRules() {
        for byte in UInt8(0)..<0x80 {
            let scalar = Unicode.Scalar(byte)
            let allowed =
                scalar == "_" || scalar == "-"
                || [.uppercaseLetter, .lowercaseLetter, .decimalNumber].contains(scalar.properties.generalCategory)
            for raw in [String(scalar), "a\(scalar)b"] {
                #expect((RoomName(raw) != nil) == allowed, "room \(byte)")
                #expect((Nick(raw) != nil) == allowed, "nick \(byte)")
            }
        }
        #expect(RoomName(String(repeating: "r", count: RoomName.maxLength)) != nil)
        #expect(RoomName(String(repeating: "r", count: RoomName.maxLength + 1)) == nil)
        #expect(Nick(String(repeating: "n", count: Nick.maxLength + 1)) == nil)
        #expect(RoomName("General-2")?.value == "general-2")
        #expect(RoomName("general")?.value == "general")
    }

    @Test(arguments: ["alice", "Bob_2", "小千", "नमस्ते", "Zoë", "a-b_c", String(repeating: "n", count: 32), "١٢٣"])
    func validNicks(_ raw: String) throws {
        let nick = try #require(Nick(raw))
        #expect(nick.value == raw)
    }

    @Test(arguments: [
        "", " ", "a b", "alice\n", "\nalice", "a\u{200B}b", "<b>", "a.b", "a@b", "\u{0301}a", "e\u{202E}vil",
        String(repeating: "n", count: 33), "tab\there", "😀",
    ])
    func invalidNicks(_ raw: String) {
        #expect(Nick(raw) == nil, "\(raw.debugDescription)")
    }

    @Test func nicksCompareWithoutCaseAndNormalization() throws {
        let upper = try #require(Nick("ALICE"))
        let lower = try #require(Nick("alice"))
        #expect(upper == lower)
        #expect(upper.value == "ALICE")
        // é as one scalar and as e + combining acute are the same nick, stored in NFC.
        let composed = try #require(Nick("Ren\u{E9}"))
        let decomposed = try #require(Nick("Rene\u{301}"))
        #expect(composed == decomposed)
        #expect(decomposed.value.unicodeScalars.count == 4)
    }

    @Test func roomNamesAreFolded() throws {
        #expect(RoomName("General")?.value == "general")
        #expect(RoomName("ΣΟΦΙΑ")?.value == "σοφια")
        #expect(RoomName(String(repeating: "r", count: 64)) != nil)
        #expect(RoomName(String(repeating: "r", count: 65)) == nil)
        #expect(RoomName("a/b") == nil)
        #expect(RoomName("..") == nil)
        #expect(RoomName("room\n") == nil)
    }

    @Test func messageText() {
        #expect((try? MessageText.validate("hello\n\tworld").get())?.value == "hello\n\tworld")
        #expect(MessageText.validate("") == .failure(.empty))
        #expect(MessageText.validate("  \n\t ") == .failure(.blank))
        #expect(MessageText.validate("\u{200B}") == .failure(.blank))
        #expect(MessageText.validate("a\u{0}b") == .failure(.controlCharacter))
        #expect(MessageText.validate("a\rb") == .failure(.controlCharacter))
        #expect(MessageText.validate("a\u{7F}") == .failure(.controlCharacter))
        #expect((try? MessageText.validate(String(repeating: "é", count: 4000)).get()) != nil)
        #expect(MessageText.validate(String(repeating: "x", count: 4001)) == .failure(.tooLong))
        // Counted in Unicode scalars: a family emoji is 7 scalars.
        let family = "👨‍👩‍👧‍👦"
        #expect(family.unicodeScalars.count == 7)
        #expect((try? MessageText.validate(String(repeating: family, count: 571)).get()) != nil)
        #expect(MessageText.validate(String(repeating: family, count: 572)) == .failure(.tooLong))
    }
}

extension Result where Success == MessageText, Failure == MessageText.Problem {
    static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.success(let a), .success(let b)): a == b
        case (.failure(let a), .failure(let b)): a == b
        default: false
        }
    }
}
