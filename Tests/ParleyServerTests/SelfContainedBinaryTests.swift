import Foundation
import HummingbirdTesting
import Testing

/// The `parley` binary carries its page and its schema: copied alone into an empty folder, it
/// serves the chat page exactly as the repository's `web/` has it.
@Suite struct SelfContainedBinaryTests {
    @Test func theBinaryCopiedAloneServesThePage() async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("parley")
        try FileManager.default.copyItem(at: try ServerProcess.executable(), to: copy)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["parley"])

        let server = try await ServerProcess(directory: directory, executable: copy)
        let web = URL(fileURLWithPath: TestServer.webRoot)
        for (path, file, type) in [
            ("/", "index.html", "text/html; charset=utf-8"),
            ("/app.js", "app.js", "text/javascript; charset=utf-8"),
            ("/style.css", "style.css", "text/css; charset=utf-8"),
            ("/js/connection.js", "js/connection.js", "text/javascript; charset=utf-8"),
        ] {
            let response = try await TestClient.withClient(host: "127.0.0.1", port: server.port) { client in
                try await client.get(path)
            }
            #expect(response.status == .ok, "\(path)")
            #expect(response.headers[.contentType] == type, "\(path)")
            let expected = try String(contentsOf: web.appendingPathComponent(file), encoding: .utf8)
            #expect(response.text == expected, "\(path) differs from web/\(file)")
        }
        #expect(await server.log.text.contains("built in"))
        #expect(try await server.stop() == 0)
        // It also created its database there, migrated.
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("parley.sqlite").path))
    }
}
