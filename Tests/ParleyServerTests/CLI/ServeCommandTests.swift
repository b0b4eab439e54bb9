import Foundation
import ParleyCore
import ParleyStore
import Testing

/// `parley serve` as an operator meets it: its help, its version, its start-up line, and what it
/// says when it cannot start.
@Suite struct ServeCommandTests {
    @Test func versionAndHelpPutTheEverydayOptionsFirst() async throws {
        let version = try await CommandRun.parley(["--version"])
        #expect(version.status == 0)
        #expect(version.output == "\(ParleyVersion.current)\n")

        let help = try await CommandRun.parley(["serve", "--help"])
        let text =
            try #require(help.output.range(of: "USAGE:")).upperBound
            .samePosition(in: help.output).map { String(help.output[$0...]) } ?? ""
        let host = try #require(text.range(of: "--host"))
        let port = try #require(text.range(of: "--port"))
        let db = try #require(text.range(of: "--db"))
        let limits = try #require(text.range(of: "--max-connections"))
        #expect(host.lowerBound < port.lowerBound && port.lowerBound < db.lowerBound)
        #expect(db.lowerBound < limits.lowerBound)
    }

    @Test func theStartUpLineNamesTheDatabaseThePageAndWhatItHolds() async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteMessageStore(path: directory.appendingPathComponent("parley.sqlite").path)
        _ = try await store.append(
            ["a", "b", "c"].enumerated().map { index, text in
                MessageDraft(room: RoomName(index == 0 ? "one" : "two")!, nick: "n", text: text, createdAt: 1)
            }
        )
        let server = try await ServerProcess(directory: directory)
        let line = try await server.log.firstCapture(of: /(.*Parley is running.*)/)
        try await server.stop()
        // The absolute path: the operator sees which file, whatever the working directory.
        let path = directory.appendingPathComponent("parley.sqlite").standardizedFileURL.path
        #expect(line.contains("parley.database=\(path) "), "\(line)")
        #expect(line.contains("parley.holds=2 rooms, 3 messages"), "\(line)")
        #expect(line.contains("parley.page=built in"), "\(line)")
    }

    /// Each failure to start is one plain sentence naming the path or port, and leaves no new
    /// database behind.
    @Test func failingToStartSaysWhyInPlainWordsAndLeavesNothingBehind() async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("just some text, not a database at all; padded to look like a file".utf8)
            .write(to: directory.appendingPathComponent("notes.txt"))

        // A port that is taken.
        let taken = try TakenPort()
        let cases: [([String], String)] = [
            (
                ["--port", "\(taken.port)", "--db", "new.sqlite"],
                "cannot listen on 127.0.0.1:\(taken.port): the port is already in use"
            ),
            (
                ["--db", "missing-folder/new.sqlite"],
                "cannot create the database missing-folder/new.sqlite: the folder missing-folder does not exist"
            ),
            (["--db", "notes.txt"], "notes.txt is not a Parley database"),
            (["--db", "new.sqlite", "--web-root", "no-such-folder"], "no web root with an index.html at"),
        ]
        for (arguments, message) in cases {
            let run = try await CommandRun.parley(
                ["serve", "--host", "127.0.0.1", "--port", "0"] + arguments,
                in: directory
            )
            #expect(run.status != 0, "\(arguments)")
            #expect(run.errors.contains(message), "\(arguments): \(run.errors)")
            #expect(!run.errors.contains("errno"), "\(arguments)")
            #expect(!run.errors.contains("SQLite error"), "\(arguments)")
            let left = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            #expect(left == ["notes.txt"], "\(arguments) left \(left)")
        }
        taken.close()
    }
}

/// A loopback port held open by a listening socket, so that a server cannot bind it.
final class TakenPort: Sendable {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 1) == 0 else { throw TestFailure("could not hold a port") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() {
        _ = Glibc.close(descriptor)
    }
}
