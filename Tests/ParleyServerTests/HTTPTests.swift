import Foundation
import HummingbirdTesting
import NIOCore
import Testing

extension TestClient.Response {
    var text: String { body.map { String(buffer: $0) } ?? "" }
    var data: Data { Data(text.utf8) }
}

/// The HTTP side: the page, its headers, the JSON API, and paths that must never be served.
@Suite struct HTTPTests {
    static func get(_ server: TestServer, _ path: String) async throws -> TestClient.Response {
        try await TestClient.withClient(host: "127.0.0.1", port: server.port) { client in
            try await client.get(path)
        }
    }

    @Test func servesThePageWithSecurityHeaders() async throws {
        try await TestServer.with { server async throws in
            let page = try await Self.get(server, "/")
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.headers[.xContentTypeOptions] == "nosniff")
            let policy = try #require(page.headers[.contentSecurityPolicy])
            #expect(policy.contains("script-src 'self'"))
            #expect(policy.contains("connect-src 'self'"))
            #expect(policy.contains("default-src 'none'"))
            #expect(page.text.contains("<html"))

            let script = try await Self.get(server, "/app.js")
            #expect(script.status == .ok)
            #expect(script.headers[.contentType] == "text/javascript; charset=utf-8")
            let style = try await Self.get(server, "/style.css")
            #expect(style.headers[.contentType] == "text/css; charset=utf-8")
            #expect(try await Self.get(server, "/%69ndex.html").status == .ok)  // percent-encoded "i"
            #expect(try await Self.get(server, "/no-such-file.js").status == .notFound)
            // The icon, also where browsers look for it without being told.
            for path in ["/favicon.svg", "/favicon.ico"] {
                let icon = try await Self.get(server, path)
                #expect(icon.status == .ok, "\(path)")
                #expect(icon.headers[.contentType] == "image/svg+xml", "\(path)")
            }
        }
    }

    @Test(arguments: [
        "/../Package.swift",
        "/..%2fPackage.swift",
        "/%2e%2e/Package.swift",
        "/%2e%2e%2fPackage.swift",
        "/%2E%2E/%2E%2E/etc/passwd",
        "/..%5cPackage.swift",
        "/%5c..%5cPackage.swift",
        "/./index.html",
        "//etc/passwd",
        "/web/index.html",
        "/%2fetc%2fpasswd",
    ])
    func pathsOutsideTheWebRootAreNotFound(path: String) async throws {
        try await TestServer.with { server async throws in
            let response = try await Self.get(server, path)
            #expect(response.status == .notFound, "\(path)")
            #expect(!response.text.contains("PackageDescription"))
        }
    }

    @Test func pathWithNulByteIsRefused() async throws {
        try await TestServer.with { server async throws in
            #expect(try await Self.get(server, "/index.html%00.png").status == .badRequest)
            #expect(try await Self.get(server, "/%00").status == .badRequest)
            #expect(try await Self.get(server, "/bad%zzescape").status == .badRequest)
        }
    }

    @Test func symlinkOutOfTheWebRootIsNotServed() async throws {
        let root = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let web = root.appendingPathComponent("web")
        try FileManager.default.createDirectory(at: web, withIntermediateDirectories: true)
        try "<html>ok</html>".write(to: web.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        let secret = root.appendingPathComponent("secret.txt")
        try "top secret".write(to: secret, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(
            at: web.appendingPathComponent("leak.txt"),
            withDestinationURL: secret
        )
        try FileManager.default.createSymbolicLink(at: web.appendingPathComponent("up"), withDestinationURL: root)

        try await TestServer.with(webRoot: web.path) { server async throws in
            #expect(try await Self.get(server, "/").status == .ok)
            #expect(try await Self.get(server, "/leak.txt").status == .notFound)
            #expect(try await Self.get(server, "/up/secret.txt").status == .notFound)
        }
    }

    @Test func healthAndRoomsAndMessagesAPI() async throws {
        try await TestServer.with { server async throws in
            let health = try await Self.get(server, "/healthz")
            #expect(health.status == .ok)
            #expect(try JSONSerialization.jsonObject(with: health.data) as? [String: String] == ["status": "ok"])

            let client = try await server.member("api", nick: "apiuser")
            try await client.say(in: "api", (1...5).map { "t\($0) \"quoted\"" })
            try await client.join("quiet")

            let rooms = try await Self.get(server, "/api/rooms")
            #expect(rooms.status == .ok)
            #expect(rooms.headers[.contentType] == "application/json")
            struct Rooms: Decodable, Equatable {
                struct Room: Decodable, Equatable {
                    var name: String
                    var members: Int
                    var messages: Int
                }
                var rooms: [Room]
            }
            let listed = try JSONDecoder().decode(Rooms.self, from: rooms.data)
            #expect(
                listed.rooms == [
                    .init(name: "api", members: 1, messages: 5), .init(name: "quiet", members: 1, messages: 0),
                ]
            )

            let page = try await Self.get(server, "/api/rooms/API/messages?before=5&limit=2")
            #expect(page.status == .ok)
            let history = try JSONDecoder().decode(Event.self, from: page.data)
            #expect(history.room == "api")
            #expect(history.messages?.map(\.id) == [3, 4])
            #expect(history.messages?.first?.text == "t3 \"quoted\"")
            #expect(history.truncated == true)

            let after = try JSONDecoder().decode(
                Event.self,
                from: try await Self.get(server, "/api/rooms/api/messages?after=3").data
            )
            #expect(after.messages?.map(\.id) == [4, 5])

            for bad in [
                "/api/rooms/api/messages?limit=0", "/api/rooms/api/messages?limit=201",
                "/api/rooms/api/messages?before=x",
                "/api/rooms/api/messages?before=1&after=1", "/api/rooms/bad%20room/messages",
            ] {
                let response = try await Self.get(server, bad)
                #expect(response.status == .badRequest, "\(bad)")
                let error = try JSONDecoder().decode(Event.self, from: response.data)
                #expect(error.type == "error", "\(bad)")
            }
        }
    }
}
