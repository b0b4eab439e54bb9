import Foundation
import PropertyBased
import Testing

/// Thousands of random and mutated frames over one live connection: the server answers what it
/// can, and stays healthy for everyone else.
@Suite struct FuzzFrameTests {
    static let pieces = [
        "{", "}", "[", "]", ",", ":", " ", "\\", "\"", #""type""#, #""join""#, #""say""#, #""leave""#,
        #""history""#, #""ping""#, #""room""#, #""nick""#, #""text""#, #""ref""#, #""mid""#, #""resume""#, #""since""#,
        #""before""#, #""after""#, #""limit""#, "null", "true", "0", "-1", "1e999", #""""#, #""fuzz""#,
        #""fuzzer""#, #""\u0000""#, #""\ud800""#, #""小千""#, #""👋""#,
    ]

    @Test func randomFramesLeaveTheServerHealthyForOthers() async throws {
        try await TestServer.with { server async throws in
            let bystander = try await server.member("fuzz", nick: "bystander")
            let fuzzer = try await server.member("fuzz", nick: "fuzzer")
            _ = try await bystander.next(ofType: "presence")
            var sent = 0
            await propertyCheck(count: 2000, input: Gen.element(of: Self.pieces).array(of: 0...16)) { pieces in
                fuzzer.send(pieces.compactMap { $0 }.joined())
                sent += 1
            }
            #expect(sent == 2000)
            // The fuzzer's connection still works, after every frame before it was answered.
            try fuzzer.send(["type": "ping", "ref": "after-fuzz"])
            #expect(try await fuzzer.next(ofType: "pong", timeout: .seconds(30)).ref == "after-fuzz")
            // And so does everyone else's.
            try bystander.send(["type": "ping", "ref": "fine"])
            #expect(try await bystander.next(ofType: "pong").ref == "fine")
            try bystander.send(["type": "say", "room": "fuzz", "text": "still here", "ref": "s"])
            #expect(try await bystander.next(ofType: "ack").ref == "s")
        }
    }
}
