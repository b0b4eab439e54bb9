import Foundation
import ParleyServer
import Testing

/// A real nginx on a free loopback port, configured with the locations of docs/DEPLOY.md word
/// for word, in front of a live Parley. Stopped by PID.
final class NginxProxy: Sendable {
    let port: Int
    let directory: URL
    private let process: Process

    /// The nginx block that follows `marker` in `document` (under docs/).
    static func documentedBlock(_ marker: String, in document: String) throws -> String {
        let docs = URL(fileURLWithPath: TestServer.webRoot).deletingLastPathComponent()
            .appendingPathComponent("docs/\(document)")
        let text = try String(contentsOf: docs, encoding: .utf8)
        guard let found = text.range(of: "<!-- \(marker) -->"),
            let open = text.range(of: "```nginx\n", range: found.upperBound..<text.endIndex),
            let close = text.range(of: "```", range: open.upperBound..<text.endIndex)
        else { throw TestFailure("docs/\(document) has no nginx block marked \(marker)") }
        return String(text[open.upperBound..<close.lowerBound])
    }

    /// The `location` block of docs/DEPLOY.md, passing to `upstream` and answering `path`.
    static func documentedLocations(proxyingTo upstream: String, at path: String = "/") throws -> String {
        let block = try documentedBlock("parley-nginx-locations", in: "DEPLOY.md")
        guard block.contains("http://127.0.0.1:8080;"), block.hasPrefix("location / {") else {
            throw TestFailure("the documented block names no upstream")
        }
        return "location \(path) {"
            + block.dropFirst("location / {".count)
            .replacingOccurrences(of: "http://127.0.0.1:8080;", with: "http://\(upstream);")
    }

    /// nginx in front of a cluster as docs/CLUSTER.md says: its two upstreams over `nodePorts`,
    /// DEPLOY.md's locations for `/` on any node and for `/events` by client address.
    convenience init(clusterOf nodePorts: [Int]) async throws {
        var upstreams = try Self.documentedBlock("parley-nginx-cluster-upstreams", in: "CLUSTER.md")
        let documented = ["10.0.0.1:8080", "10.0.0.2:8080"]
        guard nodePorts.count == documented.count, documented.allSatisfy(upstreams.contains) else {
            throw TestFailure("docs/CLUSTER.md's upstreams name other nodes than the test's")
        }
        for (address, port) in zip(documented, nodePorts) {
            upstreams = upstreams.replacingOccurrences(of: address, with: "127.0.0.1:\(port)")
        }
        try await self.init(
            upstreams: upstreams,
            locations: Self.documentedLocations(proxyingTo: "parley")
                + Self.documentedLocations(proxyingTo: "parley_by_client", at: "/events")
        )
    }

    convenience init(upstreamPort: Int) async throws {
        try await self.init(upstreams: "", locations: Self.documentedLocations(proxyingTo: "127.0.0.1:\(upstreamPort)"))
    }

    init(upstreams: String, locations: String) async throws {
        let executable = ["/usr/sbin/nginx", "/usr/bin/nginx"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let executable else {
            throw TestFailure("No nginx found for the reverse-proxy tests: install it (apt-get install nginx)")
        }
        directory = try TestServer.makeDirectory()
        port = try Self.freePort()
        let config = """
            worker_processes 1;
            error_log \(directory.path)/error.log warn;
            pid \(directory.path)/nginx.pid;
            events { worker_connections 256; }
            http {
                access_log \(directory.path)/access.log;
                client_body_temp_path \(directory.path)/client_body;
                proxy_temp_path \(directory.path)/proxy;
                fastcgi_temp_path \(directory.path)/fastcgi;
                uwsgi_temp_path \(directory.path)/uwsgi;
                scgi_temp_path \(directory.path)/scgi;
                map $http_upgrade $connection_upgrade {
                    default upgrade;
                    ''      close;
                }
                \(upstreams)
                server {
                    listen 127.0.0.1:\(port);
                    \(locations)
                }
            }
            """
        try config.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "-p", directory.path, "-c", directory.appendingPathComponent("nginx.conf").path, "-g", "daemon off;",
        ]
        try process.run()
        // Ready once it answers.
        let deadline = ContinuousClock.now + .seconds(10)
        while (try? await RawHTTP.exchange("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", port: port)) == nil {
            guard ContinuousClock.now < deadline, process.isRunning else {
                let log =
                    (try? String(contentsOf: directory.appendingPathComponent("error.log"), encoding: .utf8)) ?? ""
                throw TestFailure("nginx did not start: \(log)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Parley behind nginx, as docs/DEPLOY.md sets it up.
@Suite struct ReverseProxyTests {
    @Test func chatWorksThroughNginxAndLimitsCountForwardedClients() async throws {
        // Per-address limits on, trusted proxies left at their default (loopback).
        let admission = AdmissionLimits(maxConnections: 0, maxConnectionsPerAddress: 1, connectBurstPerAddress: 0)
        try await TestServer.with(admission: admission) { server async throws in
            let proxy = try await NginxProxy(upstreamPort: server.port)
            defer { proxy.stop() }
            let publicHost = "127.0.0.1:\(proxy.port)"

            // The page loads through the proxy.
            let page = try await RawHTTP.exchange(
                "GET / HTTP/1.1\r\nHost: \(publicHost)\r\nConnection: close\r\n\r\n",
                port: proxy.port
            )
            #expect(RawHTTP.status(page) == 200)
            #expect(page.contains("<html"))

            // The Origin check passes for the proxied page's origin (with its port), not others.
            func upgrade(origin: String?, from source: String) async throws -> RawHTTP.Connection {
                let request = RawHTTP.upgradeRequest(
                    port: proxy.port,
                    headers: origin.map { ["Origin: \($0)"] } ?? []
                )
                return try await RawHTTP.open(request, port: proxy.port, from: source)
            }
            let first = try await upgrade(origin: "http://\(publicHost)", from: "127.0.0.2")
            #expect(RawHTTP.status(first.response) == 101, "\(first.response)")
            let evil = try await upgrade(origin: "http://evil.example", from: "127.0.0.4")
            #expect(RawHTTP.status(evil.response) == 403)
            evil.close()

            // The per-address limit counts the clients nginx forwards, not nginx: 127.0.0.2 has
            // used its one connection, 127.0.0.3 still has its own.
            try await Task.sleep(for: .milliseconds(200))
            let second = try await upgrade(origin: "http://\(publicHost)", from: "127.0.0.2")
            #expect(RawHTTP.status(second.response) == 429)
            second.close()
            let other = try await upgrade(origin: "http://\(publicHost)", from: "127.0.0.3")
            #expect(RawHTTP.status(other.response) == 101)
            first.close()
            other.close()
            try await Task.sleep(for: .milliseconds(300))

            // A chat through the proxy (one after the other: both come from 127.0.0.1 here).
            let url = "ws://\(publicHost)/ws"
            let alice = try await ChatClient.connect(url)
            try await alice.join("proxied", nick: "alice")
            try await alice.say(in: "proxied", ["through nginx"])
            await alice.close()
            try await Task.sleep(for: .milliseconds(300))
            let bob = try await ChatClient.connect(url)
            let (_, history) = try await bob.join("proxied", nick: "bob")
            #expect(history.messages?.map(\.text) == ["through nginx"])
            await bob.close()
        }
    }

    /// The HTTP transport through the same nginx block: events pass at once (not held in a
    /// buffer), commands are posted through it, and a client on each transport chat together.
    @Test func theHTTPTransportWorksThroughNginx() async throws {
        try await TestServer.with { server async throws in
            let proxy = try await NginxProxy(upstreamPort: server.port)
            defer { proxy.stop() }
            let url = "ws://127.0.0.1:\(proxy.port)/ws"
            let alice = try await ChatClient.connect(url, transport: .eventStream)
            let bob = try await ChatClient.connect(url, transport: .webSocket)
            try await alice.join("proxied", nick: "alice")
            try await bob.join("proxied", nick: "bob")
            #expect(try await alice.next(ofType: "presence").nick == "bob")
            for round in 1...3 {
                try await bob.say(in: "proxied", ["from bob \(round)"])
                #expect(try await alice.next(ofType: "message", timeout: .seconds(5)).text == "from bob \(round)")
                try await alice.say(in: "proxied", ["from alice \(round)"])
                #expect(try await bob.next(ofType: "message", timeout: .seconds(5)).text == "from alice \(round)")
            }
            try alice.send(["type": "leave", "room": "proxied", "ref": "bye"])
            #expect(try await alice.next(ofType: "left").ref == "bye")
            #expect(
                try await bob.next(ofType: "presence")
                    == Event(type: "presence", room: "proxied", nick: "alice", event: "leave")
            )
            await alice.close()
            await bob.close()
        }
    }

    @Test(arguments: Transport.allCases)
    func aConnectionThroughNginxIsClosedByTheServerWith1001OnShutdown(_ transport: Transport) async throws {
        let server = try await TestServer()
        defer { try? FileManager.default.removeItem(at: server.directory) }
        let proxy = try await NginxProxy(upstreamPort: server.port)
        defer { proxy.stop() }
        let client = try await ChatClient.connect("ws://127.0.0.1:\(proxy.port)/ws", transport: transport)
        try await client.join("bye", nick: "carol")
        try await server.stop()
        #expect(try await client.closeCode() == 1001)
    }
}
