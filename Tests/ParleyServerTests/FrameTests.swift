import NIOCore
import NIOWebSocket
import Testing

/// Frame-level rules: sizes, fragments, binary frames and UTF-8, each with its RFC 6455 close
/// code, and no harm to other connections.
@Suite struct FrameTests {
    static func text(_ string: String, fin: Bool = true) -> WebSocketFrame {
        WebSocketFrame(fin: fin, opcode: .text, data: ByteBuffer(string: string))
    }

    static func continuation(_ bytes: [UInt8], fin: Bool) -> WebSocketFrame {
        WebSocketFrame(fin: fin, opcode: .continuation, data: ByteBuffer(bytes: bytes))
    }

    /// A ping command padded to exactly `size` bytes.
    static func paddedPing(size: Int) -> String {
        let head = #"{"type":"ping","ref":"big","pad":""#
        let tail = #""}"#
        return head + String(repeating: "p", count: size - head.utf8.count - tail.utf8.count) + tail
    }

    @Test func messageOfExactly64KiBIsAcceptedAndOneByteMoreCloses1009() async throws {
        try await TestServer.with { server async throws in
            let client = try await ChatClient.connect(server.url)
            client.send(Self.paddedPing(size: 65536))
            #expect(try await client.next() == Event(type: "pong", ref: "big"))
            client.send(Self.paddedPing(size: 65537))
            #expect(try await client.closeCode() == 1009)
        }
    }

    @Test func fragmentedMessagesAreReassembledWithinLimits() async throws {
        try await TestServer.with { server async throws in
            let client = try await ChatClient.connect(server.url)
            let whole = #"{"type":"ping","ref":"frag"}"#
            let bytes = Array(whole.utf8)
            client.sendFrame(WebSocketFrame(fin: false, opcode: .text, data: ByteBuffer(bytes: bytes[0..<5])))
            client.sendFrame(Self.continuation(Array(bytes[5..<12]), fin: false))
            client.sendFrame(Self.continuation(Array(bytes[12...]), fin: true))
            #expect(try await client.next() == Event(type: "pong", ref: "frag"))

            // 1024 fragments in all is the limit, and allowed.
            client.sendFrame(Self.text("", fin: false))
            for _ in 0..<1022 { client.sendFrame(Self.continuation([], fin: false)) }
            client.sendFrame(Self.continuation(bytes, fin: true))
            #expect(try await client.next() == Event(type: "pong", ref: "frag"))
        }
    }

    @Test func tooManyFragmentsClose1009() async throws {
        try await TestServer.with { server async throws in
            let client = try await ChatClient.connect(server.url)
            client.sendFrame(Self.text("", fin: false))
            for _ in 0..<1100 { client.sendFrame(Self.continuation([], fin: false)) }
            #expect(try await client.closeCode() == 1009)
        }
    }

    @Test func fragmentedMessageOver64KiBCloses1009() async throws {
        try await TestServer.with { server async throws in
            let client = try await ChatClient.connect(server.url)
            client.sendFrame(Self.text(String(repeating: "a", count: 40_000), fin: false))
            client.sendFrame(Self.continuation(Array(repeating: UInt8(ascii: "a"), count: 40_000), fin: true))
            #expect(try await client.closeCode() == 1009)
        }
    }

    @Test func binaryFrameCloses1003() async throws {
        try await TestServer.with { server async throws in
            let client = try await ChatClient.connect(server.url)
            client.sendFrame(WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(string: #"{"type":"ping"}"#)))
            #expect(try await client.closeCode() == 1003)
        }
    }

    @Test func invalidUTF8Closes1007() async throws {
        try await TestServer.with { server async throws in
            let client = try await ChatClient.connect(server.url)
            client.sendFrame(
                WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: [0x7B, 0xC3, 0x28, 0x7D]))
            )
            #expect(try await client.closeCode() == 1007)
        }
    }

    @Test func characterSplitAcrossFragmentsIsFineButInvalidSplitCloses1007() async throws {
        try await TestServer.with { server async throws in
            let client = try await ChatClient.connect(server.url)
            // "é" (C3 A9) split between two fragments is valid once reassembled.
            let head = Array(#"{"type":"ping","ref":""#.utf8) + [0xC3]
            let tail: [UInt8] = [0xA9] + Array(#""}"#.utf8)
            client.sendFrame(WebSocketFrame(fin: false, opcode: .text, data: ByteBuffer(bytes: head)))
            client.sendFrame(Self.continuation(tail, fin: true))
            #expect(try await client.next() == Event(type: "pong", ref: "é"))
            // C3 followed by "(" across the split is not.
            client.sendFrame(WebSocketFrame(fin: false, opcode: .text, data: ByteBuffer(bytes: head)))
            client.sendFrame(Self.continuation(Array(#"("}"#.utf8), fin: true))
            #expect(try await client.closeCode() == 1007)
        }
    }

    @Test func randomGarbageFramesLeaveOthersUnharmed() async throws {
        try await TestServer.with { server async throws in
            let bystander = try await server.member("calm", nick: "bystander")
            var generator = SystemRandomNumberGenerator()
            for round in 0..<20 {
                let attacker = try await ChatClient.connect(server.url)
                for _ in 0..<50 {
                    let length = Int.random(in: 0...300, using: &generator)
                    let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                    let opcode: WebSocketOpcode = round.isMultiple(of: 3) ? .binary : .text
                    attacker.sendFrame(
                        WebSocketFrame(fin: Bool.random(), opcode: opcode, data: ByteBuffer(bytes: bytes))
                    )
                }
                await attacker.close()
            }
            try bystander.send(["type": "say", "room": "calm", "text": "still fine", "ref": "ok"])
            #expect(try await bystander.next().text == "still fine")
            #expect(try await bystander.next() == Event(type: "ack", ref: "ok", id: 1))
        }
    }
}
