import ParleyCore
import Testing

@testable import ParleyChat

/// Which nick a join claims, decided from the session table alone.
@Suite struct SessionTableTests {
    @Test func aNickIsClaimedOnceWhateverItsCase() throws {
        var table = SessionTable()
        let alice = try #require(Nick("Alice"))
        #expect(try table.claim(current: nil, requested: alice, resume: nil).nick == alice)
        let session = table.open(nick: alice, connection: 1)
        #expect(throws: ChatError(.nickTaken, "The nick alice is in use; pick another.")) {
            try table.claim(current: nil, requested: Nick("alice"), resume: nil)
        }
        table.remove(session)
        #expect(try table.claim(current: nil, requested: Nick("alice"), resume: nil).nick.value == "alice")
    }

    @Test func aResumeTakesTheSessionsNickAndOnlyThatOne() throws {
        var table = SessionTable()
        let bob = try #require(Nick("bob"))
        let session = table.open(nick: bob, connection: 1)
        guard case .resume(let resumed) = try table.claim(current: nil, requested: nil, resume: session.token) else {
            Issue.record("expected a resume")
            return
        }
        #expect(resumed === session)
        #expect(try table.claim(current: nil, requested: Nick("BOB"), resume: session.token).nick == bob)
        #expect(throws: ChatError.self) { try table.claim(current: nil, requested: Nick("eve"), resume: session.token) }
        // An expired token: a nick opens a new session, no nick is a bad request.
        #expect(try table.claim(current: nil, requested: Nick("carol"), resume: "expired").nick.value == "carol")
        #expect(throws: ChatError.badRequest("The session to resume has expired; join with a \"nick\".")) {
            try table.claim(current: nil, requested: nil, resume: "expired")
        }
    }

    @Test func aConnectionKeepsItsNickAndIgnoresLaterResumes() throws {
        let table = SessionTable()
        let dan = try #require(Nick("dan"))
        guard case .current(let nick) = try table.claim(current: dan, requested: nil, resume: "anything") else {
            Issue.record("expected the current nick")
            return
        }
        #expect(nick == dan)
        #expect(throws: ChatError.self) { try table.claim(current: dan, requested: Nick("dave"), resume: nil) }
        #expect(throws: ChatError.badRequest("The first join of a connection needs a \"nick\".")) {
            try table.claim(current: nil, requested: nil, resume: nil)
        }
    }
}
