import Foundation
import GRDB
import Testing

/// The store failing under a running server: says are refused as `unavailable`, nothing is
/// broadcast, reading goes on, /healthz says 503, and everything recovers by itself.
@Suite struct StoreFaultTests {
    func health(_ server: TestServer) async throws -> Int? {
        let request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\nConnection: close\r\n\r\n"
        return RawHTTP.status(try await RawHTTP.exchange(request, port: server.port))
    }

    @Test func aFullDiskRefusesSaysUntilThereIsRoomAgain() async throws {
        try await TestServer.with { server async throws in
            let alice = try await server.member("r", nick: "alice")
            let bob = try await server.member("r", nick: "bob")
            _ = try await alice.next(ofType: "presence")
            try await alice.say(in: "r", ["before"])
            _ = try await bob.next(ofType: "message")
            #expect(try await health(server) == 200)

            // "Disk full": the writer may not grow the file by a single page.
            try await #require(server.server.store).pool.writeWithoutTransaction { db in
                let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
                try db.execute(sql: "PRAGMA max_page_count = \(pages)")
            }
            let big = String(repeating: "x", count: 4000)
            var refused: Event?
            for index in 0..<40 where refused == nil {
                try alice.send(["type": "say", "room": "r", "text": big, "ref": "full-\(index)"])
                let reply = try await alice.next(ofType: "ack", orError: true)
                if reply.type == "error" { refused = reply }
            }
            let error = try #require(refused)
            #expect(error.code == "unavailable")
            #expect(error.ref?.hasPrefix("full-") == true)
            #expect(try await health(server) == 503)
            // Reading still works: a newcomer joins and gets the history.
            let carol = try await ChatClient.connect(server.url)
            let (_, history) = try await carol.join("r", nick: "carol")
            #expect(history.messages?.first?.text == "before")

            // Room again: the next say goes through and health comes back.
            try await #require(server.server.store).pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA max_page_count = 1073741823")
            }
            try alice.send(["type": "say", "room": "r", "text": "after", "ref": "after"])
            #expect(try await alice.next(ofType: "ack").ref == "after")
            #expect(try await health(server) == 200)
            // Bob saw each stored message once, in id order, and the refused ones never.
            var ids: [Int64] = []
            while true {
                let message = try await bob.next(ofType: "message")
                ids.append(message.id ?? 0)
                if message.text == "after" { break }
            }
            #expect(ids == Array(2...Int64(ids.count + 1)))
        }
    }

    @Test func aLockHeldByAnotherProcessRefusesSaysUntilItIsReleased() async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await TestServer(directory: directory, busyTimeout: 0.3)
        let alice = try await server.member("r", nick: "alice")
        try await alice.say(in: "r", ["before"])

        // Another writer (sqlite3 by hand, a stuck job) holds the write lock, on a thread of its
        // own, until told to let go.
        let other = try DatabaseQueue(path: server.databasePath)
        let release = DispatchSemaphore(value: 0)
        await withCheckedContinuation { (locked: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                try? other.writeWithoutTransaction { db in
                    try db.execute(sql: "BEGIN IMMEDIATE")
                    locked.resume()
                    release.wait()
                    try db.execute(sql: "ROLLBACK")
                }
            }
        }
        try alice.send(["type": "say", "room": "r", "text": "blocked", "ref": "blocked"])
        let refused = try await alice.next()
        #expect(refused.type == "error")
        #expect(refused.code == "unavailable")
        #expect(refused.ref == "blocked")
        #expect(try await health(server) == 503)
        try alice.send(["type": "history", "room": "r", "ref": "h"])
        #expect(try await alice.next().messages?.map(\.text) == ["before"])

        release.signal()
        try await Task.sleep(for: .milliseconds(100))
        try alice.send(["type": "say", "room": "r", "text": "unblocked", "ref": "ok"])
        #expect(try await alice.next(ofType: "ack").ref == "ok")
        #expect(try await health(server) == 200)
        try await server.stop()
    }
}
