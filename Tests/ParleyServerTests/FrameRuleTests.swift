import Foundation
import Testing

/// The frame rules of RFC 6455 that Parley's own frame parser enforces on `/ws`, each tried
/// with a raw socket: the answer is a close frame with the rule's code, and nothing the
/// client sent after the broken frame is run.
@Suite struct FrameRuleTests {
    /// A masked frame (with a zero key, which leaves the payload as it is).
    static func frame(_ first: UInt8, _ payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [first]
        if payload.count < 126 {
            bytes.append(0x80 | UInt8(payload.count))
        } else {
            bytes += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        return bytes + [0, 0, 0, 0] + payload
    }

    static func close(_ code: UInt16, _ reason: [UInt8] = []) -> [UInt8] {
        frame(0x88, [UInt8(code >> 8), UInt8(code & 0xFF)] + reason)
    }

    static let ping = Array(#"{"type":"ping","ref":"after"}"#.utf8)

    @Test(arguments: [
        ("a reserved bit", frame(0xC1, ping), 1002),
        ("an unknown opcode", frame(0x83, ping), 1002),
        ("a fragmented ping", frame(0x09, []), 1002),
        ("a ping of 126 bytes", frame(0x89, Array(repeating: 0x61, count: 126)), 1002),
        ("a continuation outside a message", frame(0x80, ping), 1002),
        ("a close frame of one byte", frame(0x88, [0x03]), 1002),
        ("close code 1005", close(1005), 1002),
        ("close code 2999", close(2999), 1002),
        ("a close reason that is not UTF-8", close(1000, [0xC3, 0x28]), 1007),
        ("close code 1000", close(1000), 1000),
        ("close code 4000 with a reason", close(4000, Array("bye".utf8)), 1000),
        ("an empty close frame", frame(0x88, []), 1000),
    ])
    func aBrokenOrClosingFrameIsAnsweredWithTheRightCode(what: String, bytes: [UInt8], code: Int) async throws {
        try await TestServer.with { server async throws in
            let connection = try await RawHTTP.open(RawHTTP.upgradeRequest(port: server.port), port: server.port)
            defer { connection.close() }
            #expect(RawHTTP.status(connection.response) == 101)
            connection.sendRaw(bytes + Self.frame(0x81, Self.ping))
            let (received, closed) = await connection.readAll(timeout: .seconds(6))
            #expect(closed, "\(what): the server closes the connection")
            #expect(HandshakeTests.closeCode(in: received) == code, "\(what)")
            #expect(!String(decoding: received, as: UTF8.self).contains("pong"), "\(what): nothing after it runs")
        }
    }

    @Test func aPingIsAnsweredWithItsPayloadAndCommandsGoOn() async throws {
        try await TestServer.with { server async throws in
            let connection = try await RawHTTP.open(RawHTTP.upgradeRequest(port: server.port), port: server.port)
            defer { connection.close() }
            connection.sendRaw(Self.frame(0x89, Array("hello".utf8)) + Self.frame(0x81, Self.ping))
            let (received, _) = await connection.read(timeout: .seconds(20)) {
                String(decoding: $0, as: UTF8.self).contains(#""ref":"after""#)
            }
            #expect(Array(received.prefix(7)) == [0x8A, 5] + Array("hello".utf8))
            #expect(String(decoding: received, as: UTF8.self).contains(#""ref":"after""#))
        }
    }

    /// No task stays with an idle connection: its pings come from the event loop's sweep, and a
    /// connection whose upgrade task ended long ago is still served.
    @Test func aQuietConnectionIsPingedByTheSweepAndStaysWhileItAnswers() async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // A ping interval long enough for the answering client to answer on a loaded machine.
        let server = try await TestServer(directory: directory, timeouts: (.seconds(15), .seconds(4)))
        let answering = try await server.member("quiet", nick: "answers")
        let silent = try await RawHTTP.open(RawHTTP.upgradeRequest(port: server.port), port: server.port)
        silent.sendText(#"{"type":"join","room":"quiet","nick":"silent"}"#)
        let start = ContinuousClock.now
        let (received, closed) = await silent.readAll(timeout: .seconds(20))
        #expect(closed)
        #expect(ContinuousClock.now - start < .seconds(14), "one interval to the ping, one for the pong")
        #expect(received.contains(0x89), "the server pinged")
        #expect(HandshakeTests.closeCode(in: received) == 1001)
        // Several ping intervals later, the client that answered pings is still served.
        try await Task.sleep(for: .seconds(4))
        try answering.send(["type": "say", "room": "quiet", "text": "still here", "ref": "s"])
        #expect(try await answering.next(ofType: "ack").ref == "s")
        try await server.stop()
    }
}
