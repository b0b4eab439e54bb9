public import Foundation
public import Logging
import ParleyPostgres
public import PostgresNIO
import Synchronization

/// A throwaway PostgreSQL server for one test: `initdb` into a temporary folder, started on a
/// free loopback port, stopped (and its folder removed) when the test ends.
///
/// PostgreSQL refuses to run as root, so as root (CI) the server runs as the `postgres` user.
/// The binaries are Debian's (`/usr/lib/postgresql/<version>/bin`) or on the PATH; when they are
/// missing the test fails with how to install them: `.ci/run` installs them, and a database test
/// that quietly skipped would prove nothing.
public final class TestPostgres: Sendable {
    public let folder: URL
    public let port: Int
    let binaries: URL
    /// The running `postgres` (replaced by ``start(after:)``).
    private let server: Mutex<Process>

    /// The URL of the database `name` (created by ``createDatabase(_:)``).
    public func url(_ name: String = "postgres") -> String { "postgres://postgres@127.0.0.1:\(port)/\(name)" }

    public static func with<T>(_ body: (TestPostgres) async throws -> T) async throws -> T {
        let server = try start()
        do {
            let result = try await body(server)
            server.stop()
            return result
        } catch {
            server.stop()
            throw error
        }
    }

    public static func start() throws -> TestPostgres {
        let binaries = try findBinaries()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parley-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        if getuid() == 0 { try run("/bin/chown", ["postgres:postgres", folder.path], asPostgres: false) }
        let data = folder.appendingPathComponent("data").path
        try run(
            binaries.appendingPathComponent("initdb").path,
            ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]
        )
        let port = try freePort()
        let started = TestPostgres(folder: folder, port: port, binaries: binaries)
        do {
            try started.launch()
        } catch {
            started.stop()
            throw error
        }
        return started
    }

    /// Starts `postgres` on the data folder and waits until it accepts connections.
    private func launch() throws {
        // The server is this process's own child (not started by `pg_ctl start`, whose daemon
        // would outlive pg_ctl and keep Foundation from noticing that pg_ctl exited).
        let process = Process()
        let program = binaries.appendingPathComponent("postgres").path
        let arguments = [
            "-D", folder.appendingPathComponent("data").path, "-p", String(port), "-k", folder.path,
            "-c", "listen_addresses=127.0.0.1",
        ]
        if getuid() == 0 {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            process.arguments = ["-u", "postgres", "--", program] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = arguments
        }
        let log = folder.appendingPathComponent("log")
        if !FileManager.default.fileExists(atPath: log.path) {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        }
        let logHandle = try FileHandle(forWritingTo: log)
        logHandle.seekToEndOfFile()
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()
        server.withLock { $0 = process }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if (try? Self.run(
                binaries.appendingPathComponent("pg_isready").path,
                ["-h", "127.0.0.1", "-p", String(port), "-q"]
            )) != nil {
                return
            }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        throw TestPostgresError("PostgreSQL did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
    }

    /// Stops the server with `pg_ctl stop -m MODE` (`fast` or `immediate`), keeping its data.
    public func halt(mode: String) {
        _ = try? Self.run(
            binaries.appendingPathComponent("pg_ctl").path,
            ["-D", folder.appendingPathComponent("data").path, "-w", "-s", "-m", mode, "stop"]
        )
        let process = server.withLock { $0 }
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Starts the server again after ``halt(mode:)``, on the same port and data.
    public func resume() throws {
        try launch()
    }

    private init(folder: URL, port: Int, binaries: URL) {
        self.folder = folder
        self.port = port
        self.binaries = binaries
        self.server = Mutex(Process())
    }

    /// Stops the server (immediately: it is a throwaway) and removes its folder.
    public func stop() {
        halt(mode: "immediate")
        try? FileManager.default.removeItem(at: folder)
    }

    /// Creates a database and returns its URL.
    public func createDatabase(_ name: String) throws -> String {
        try Self.run(
            binaries.appendingPathComponent("createdb").path,
            ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", name]
        )
        return url(name)
    }

    /// Runs one SQL statement with `psql` as the superuser; returns what it printed (unaligned,
    /// tuples only).
    @discardableResult
    public func psql(_ statement: String, database: String) throws -> String {
        try Self.run(
            binaries.appendingPathComponent("psql").path,
            [
                "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", database, "-X", "-A", "-t", "-v",
                "ON_ERROR_STOP=1", "-c", statement,
            ]
        )
    }

    /// A client for `url`, running until `body` returns.
    public static func withClient<T>(
        _ url: String,
        _ body: (PostgresClient, Logger) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "parley-test-postgres")
        logger.logLevel = .warning
        let configuration = try PostgresDatabaseURL(url).clientConfiguration
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let running = Task { await client.run() }
        defer { running.cancel() }
        return try await body(client, logger)
    }

    static func findBinaries() throws -> URL {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in versions.sorted(by: >) {
            let folder = URL(fileURLWithPath: "/usr/lib/postgresql/\(version)/bin")
            if FileManager.default.isExecutableFile(atPath: folder.appendingPathComponent("initdb").path) {
                return folder
            }
        }
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            if FileManager.default.isExecutableFile(atPath: "\(folder)/initdb")
                && FileManager.default.isExecutableFile(atPath: "\(folder)/pg_ctl")
            {
                return URL(fileURLWithPath: String(folder))
            }
        }
        throw TestPostgresError(
            "No PostgreSQL server binaries (initdb, pg_ctl) found for the PostgreSQL tests: "
                + "install them (apt-get install postgresql) or put them on the PATH"
        )
    }

    /// Runs a PostgreSQL program to completion (as `postgres` when this process is root).
    @discardableResult
    static func run(_ program: String, _ arguments: [String], asPostgres: Bool = true) throws -> String {
        let process = Process()
        if asPostgres && getuid() == 0 {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            process.arguments = ["-u", "postgres", "--", program] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = arguments
        }
        // A file, not a pipe: `pg_ctl start` leaves the server running, and a server that
        // inherited a pipe would keep it open, so reading it to the end would never return.
        let capture = FileManager.default.temporaryDirectory.appendingPathComponent("parley-pg-run-\(UUID())")
        _ = FileManager.default.createFile(atPath: capture.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: capture) }
        let output = try FileHandle(forWritingTo: capture)
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        try? output.close()
        let printed = (try? Data(contentsOf: capture)) ?? Data()
        guard process.terminationStatus == 0 else {
            throw TestPostgresError(
                "\(program) \(arguments.joined(separator: " ")) failed: \(String(decoding: printed, as: UTF8.self))"
            )
        }
        return String(decoding: printed, as: UTF8.self)
    }

    /// A port nothing listens on now (the kernel's choice for port 0).
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else { throw TestPostgresError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

public struct TestPostgresError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
