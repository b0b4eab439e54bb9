import Foundation
import ParleyChat
import ParleyServer
import Testing

/// Abuse limits: command rates, room and text sizes, who may connect and how often.
@Suite struct LimitTests {
    @Test func saysBeyondTheBurstAreRateLimitedAndAFlooderIsDisconnected() async throws {
        let limits = RateLimits(
            sayBurst: 10,
            sayPerSecond: 0.2,  // one say per 5 s: a busy machine cannot refill the bucket mid-burst
            commandBurst: 200,
            commandPerSecond: 20,
            maxRefusalsInARow: 20
        )
        try await TestServer.with(chat: ChatConfiguration(rateLimits: limits)) { server async throws in
            let flooder = try await server.member("r", nick: "flooder")
            let bystander = try await server.member("r", nick: "calm")
            _ = try await flooder.next(ofType: "presence")
            for index in 0..<12 {
                try flooder.send(["type": "say", "room": "r", "text": "m\(index)", "ref": "\(index)"])
            }
            var acks: [String] = []
            var refused: [Event] = []
            while acks.count + refused.count < 12 {
                let event = try await flooder.next()
                if event.type == "ack" { acks.append(event.ref ?? "") }
                if event.type == "error" { refused.append(event) }
            }
            #expect(acks == (0..<10).map(String.init))
            #expect(refused.map(\.code) == ["rate_limited", "rate_limited"])
            #expect(refused.map(\.ref) == ["10", "11"])
            #expect(refused.allSatisfy { ($0.retryAfterMs ?? 0) > 0 && ($0.retryAfterMs ?? 0) <= 5000 })
            // Nothing of a refused say was stored or sent.
            for _ in 0..<10 { _ = try await bystander.next(ofType: "message") }
            try await bystander.expectNoMessages(for: .milliseconds(100))

            // Waiting as told is enough to be heard again.
            try await Task.sleep(for: .milliseconds(refused[1].retryAfterMs! + 50))
            try flooder.send(["type": "say", "room": "r", "text": "patient", "ref": "p"])
            #expect(try await flooder.next(ofType: "ack").ref == "p")

            // Joins have their own, larger budget: rejoining (almost) 100 rooms is not throttled.
            for index in 0..<99 { try flooder.send(["type": "join", "room": "room\(index)", "ref": "j\(index)"]) }
            var joined = 0
            while joined < 99 {
                let event = try await flooder.next()
                #expect(event.type != "error", "\(event)")
                if event.type == "joined" { joined += 1 }
            }

            // Ignoring rate_limited and going on gets the connection closed with 1008.
            for index in 0..<40 { try flooder.send(["type": "say", "room": "r", "text": "spam \(index)"]) }
            #expect(try await flooder.closeCode() == 1008)
            // The bystander is unaffected.
            try bystander.send(["type": "ping", "ref": "still here"])
            #expect(try await bystander.next(ofType: "pong").ref == "still here")
        }
    }

    /// A close for a policy reason goes out after the answer to every command accepted before
    /// it: the `say`s still in the commit pipeline when the flood limit is reached are acked.
    @Test func aFlooderIsAnsweredForEverythingAcceptedBeforeItsClose() async throws {
        try await TestServer.with(chat: ChatConfiguration(rateLimits: RateLimits())) { server async throws in
            let flooder = try await server.member("flood", nick: "flooder")
            let bystander = try await server.member("flood", nick: "bystander")
            _ = try await flooder.next(ofType: "presence")
            for index in 0..<500 {
                try flooder.send(["type": "say", "room": "flood", "text": "m\(index)", "ref": "\(index)"])
            }
            var acked: [Int64] = []
            var answered: [Int] = []
            var closeCode: Int?
            receiving: while true {
                switch try await flooder.receive() {
                case .event(let event):
                    guard event.type == "ack" || event.type == "error", let ref = event.ref.flatMap(Int.init) else {
                        continue
                    }
                    answered.append(ref)
                    if event.type == "ack" { acked.append(try #require(event.id)) }
                    if event.type == "error" { #expect(event.code == "rate_limited") }
                case .closed(let code):
                    closeCode = code
                    break receiving
                }
            }
            #expect(closeCode == 1008)
            // Every command up to the one that closed the connection was answered, once.
            #expect(answered.sorted() == Array(0..<answered.count))
            #expect(acked.count >= 10)
            // What the others saw is exactly what the flooder was told was stored.
            var seen: [Int64] = []
            while seen.count < acked.count { seen.append(try #require(try await bystander.next(ofType: "message").id)) }
            #expect(seen == acked)
            try await bystander.expectNoMessages(for: .milliseconds(200))
        }
    }

    @Test func roomTextAndFrameLimitsAreConfigurable() async throws {
        let chat = ChatConfiguration(
            maxRoomsPerConnection: 2,
            maxMembersPerRoom: 2,
            maxTextLength: 10,
            rateLimits: .unlimited
        )
        try await TestServer.with(chat: chat, maxMessageBytes: 1024) { server async throws in
            let a = try await server.member("small", nick: "a")
            _ = try await server.member("small", nick: "b")
            let c = try await ChatClient.connect(server.url)
            try c.send(["type": "join", "room": "small", "nick": "c", "ref": "full"])
            let full = try await c.next()
            #expect(full.code == "room_full")
            #expect(full.ref == "full")

            try await a.join("second")
            try a.send(["type": "join", "room": "third", "ref": "3"])
            #expect(try await a.next(ofType: "error").code == "too_many_rooms")

            try a.send(["type": "say", "room": "small", "text": "0123456789", "ref": "ok"])
            #expect(try await a.next(ofType: "ack").ref == "ok")
            try a.send(["type": "say", "room": "small", "text": "0123456789!", "ref": "long"])
            let long = try await a.next(ofType: "error")
            #expect(long.code == "too_large")
            #expect(long.ref == "long")

            a.send(#"{"type":"ping","pad":"\#(String(repeating: "x", count: 1100))"}"#)
            #expect(try await a.closeCode() == 1009)
        }
    }

    @Test func aForeignOriginIsRefusedWith403AndAllowedOnesUpgrade() async throws {
        var admission = TestServer.unlimited.1
        admission.allowedOrigins = ["https://chat.example.com"]
        try await TestServer.with(admission: admission) { server async throws in
            func status(_ headers: [String]) async throws -> Int? {
                let request = RawHTTP.upgradeRequest(port: server.port, headers: headers)
                return RawHTTP.status(try await RawHTTP.exchange(request, port: server.port))
            }
            #expect(try await status(["Origin: https://evil.example"]) == 403)
            #expect(try await status(["Origin: null"]) == 403)
            #expect(try await status(["Origin: http://127.0.0.1:1"]) == 403)  // same host, other port
            #expect(try await status(["Origin: http://127.0.0.1:\(server.port)"]) == 101)
            #expect(try await status(["Origin: https://chat.example.com"]) == 101)
            #expect(try await status([]) == 101)  // not a browser
            let refused = try await RawHTTP.exchange(
                RawHTTP.upgradeRequest(port: server.port, headers: ["Origin: https://evil.example"]),
                port: server.port
            )
            #expect(refused.contains("Cross-origin connections are not allowed."))
        }
    }

    @Test func perAddressAndTotalConnectionCapsAnswer429And503() async throws {
        let admission = AdmissionLimits(maxConnections: 5, maxConnectionsPerAddress: 3, connectBurstPerAddress: 0)
        try await TestServer.with(admission: admission) { server async throws in
            var clients: [ChatClient] = []
            for index in 0..<3 { clients.append(try await server.member("r", nick: "c\(index)")) }
            let fourth = try await RawHTTP.exchange(RawHTTP.upgradeRequest(port: server.port), port: server.port)
            #expect(RawHTTP.status(fourth) == 429)
            #expect(fourth.contains("Retry-After: "))
            // Freed when one closes.
            await clients.removeLast().close()
            try await Task.sleep(for: .milliseconds(200))
            clients.append(try await server.member("r", nick: "again"))
        }
        // Behind a trusted proxy, each forwarded client has its own allowance, and the total cap
        // answers 503.
        let proxied = AdmissionLimits(
            maxConnections: 3,
            maxConnectionsPerAddress: 1,
            connectBurstPerAddress: 0,
            trustedProxies: ["127.0.0.1"]
        )
        try await TestServer.with(admission: proxied) { server async throws in
            func upgrade(from client: String) async throws -> RawHTTP.Connection {
                let request = RawHTTP.upgradeRequest(
                    port: server.port,
                    headers: ["X-Forwarded-For: 10.0.0.9, \(client)"]
                )
                return try await RawHTTP.open(request, port: server.port)
            }
            func settle() async throws { try await Task.sleep(for: .milliseconds(100)) }
            let first = try await upgrade(from: "192.0.2.1")
            let second = try await upgrade(from: "192.0.2.2")
            #expect(RawHTTP.status(first.response) == 101)
            #expect(RawHTTP.status(second.response) == 101)
            try await settle()
            #expect(RawHTTP.status(try await upgrade(from: "192.0.2.1").response) == 429)  // that address has its one
            let third = try await upgrade(from: "192.0.2.3")
            #expect(RawHTTP.status(third.response) == 101)
            try await settle()
            #expect(RawHTTP.status(try await upgrade(from: "192.0.2.4").response) == 503)  // the server has its three
            for connection in [first, second, third] { connection.close() }
        }
    }

    @Test func newConnectionsFromOneAddressAreRateLimited() async throws {
        let admission = AdmissionLimits(
            maxConnections: 0,
            maxConnectionsPerAddress: 0,
            connectBurstPerAddress: 3,
            connectsPerSecondPerAddress: 0.1
        )
        try await TestServer.with(admission: admission) { server async throws in
            var statuses: [Int?] = []
            for _ in 0..<4 {
                let response = try await RawHTTP.exchange(RawHTTP.upgradeRequest(port: server.port), port: server.port)
                statuses.append(RawHTTP.status(response))
            }
            #expect(statuses == [101, 101, 101, 429], "\(statuses)")
        }
    }
}
