import Foundation
import Testing

/// RFC 6455 rules a client-side fuzzer such as Autobahn cannot check, since it always masks its
/// frames and always sends a good handshake: tried here with a raw socket.
@Suite struct HandshakeTests {
    static func request(port: Int, path: String = "/ws", _ headers: [String]) -> String {
        (["GET \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Connection: Upgrade", "Upgrade: websocket"] + headers)
            .joined(separator: "\r\n") + "\r\n\r\n"
    }

    static let goodKey = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="

    /// A frame as a client must not send it: MASK bit clear.
    static func unmaskedFrame(opcode: UInt8, _ payload: String) -> [UInt8] {
        let bytes = Array(payload.utf8)
        return [0x80 | opcode, UInt8(bytes.count)] + bytes
    }

    /// The close code of the first close frame in `bytes` (server frames are never masked).
    static func closeCode(in bytes: [UInt8]) -> Int? {
        var index = 0
        while index + 2 <= bytes.count {
            let opcode = bytes[index] & 0x0F
            var length = Int(bytes[index + 1] & 0x7F)
            var start = index + 2
            if length == 126, start + 2 <= bytes.count {
                length = Int(bytes[start]) << 8 | Int(bytes[start + 1])
                start += 2
            }
            if opcode == 0x8 {
                guard length >= 2, start + 2 <= bytes.count else { return nil }
                return Int(bytes[start]) << 8 | Int(bytes[start + 1])
            }
            index = start + length
        }
        return nil
    }

    @Test(arguments: [(UInt8(0x1), #"{"type":"ping","ref":"um"}"#), (UInt8(0x9), "ping")])
    func anUnmaskedClientFrameClosesWith1002(opcode: UInt8, payload: String) async throws {
        try await TestServer.with { server async throws in
            let connection = try await RawHTTP.open(
                Self.request(port: server.port, ["Sec-WebSocket-Version: 13", Self.goodKey]),
                port: server.port
            )
            defer { connection.close() }
            #expect(RawHTTP.status(connection.response) == 101)
            connection.sendRaw(Self.unmaskedFrame(opcode: opcode, payload))
            let (bytes, closed) = await connection.readAll(timeout: .seconds(5))
            #expect(closed)
            #expect(Self.closeCode(in: bytes) == 1002)
            #expect(!String(decoding: bytes, as: UTF8.self).contains("pong"))
            // Masked, the same command is answered.
            let client = try await ChatClient.connect(server.url)
            try client.send(["type": "ping", "ref": "masked"])
            #expect(try await client.next(ofType: "pong").ref == "masked")
        }
    }

    @Test func aBadHandshakeIsNotUpgraded() async throws {
        try await TestServer.with { server async throws in
            func answer(_ headers: [String], path: String = "/ws") async throws -> String {
                try await RawHTTP.exchange(Self.request(port: server.port, path: path, headers), port: server.port)
            }
            for key in ["short", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZ!==", ""] {
                let response = try await answer(["Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: \(key)"])
                #expect(RawHTTP.status(response) == 400, "key \(key.debugDescription): \(response)")
            }
            let noKey = try await answer(["Sec-WebSocket-Version: 13"])
            #expect(RawHTTP.status(noKey) == 400)
            #expect(noKey.contains("Sec-WebSocket-Key"))
            let twoKeys = try await answer(["Sec-WebSocket-Version: 13", Self.goodKey, Self.goodKey])
            #expect(RawHTTP.status(twoKeys) == 400)

            for version in ["Sec-WebSocket-Version: 8", "Sec-WebSocket-Version: 14", nil] {
                let response = try await answer([version, Self.goodKey].compactMap { $0 })
                #expect(RawHTTP.status(response) == 426, "\(version ?? "no version"): \(response)")
                #expect(response.lowercased().contains("sec-websocket-version: 13"))
            }
            let elsewhere = try await answer(["Sec-WebSocket-Version: 13", Self.goodKey], path: "/nowhere")
            #expect(RawHTTP.status(elsewhere) == 404)
            let good = try await answer(["Sec-WebSocket-Version: 13", Self.goodKey])
            #expect(RawHTTP.status(good) == 101)
            #expect(good.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))  // RFC 6455's example accept value
        }
    }
}
