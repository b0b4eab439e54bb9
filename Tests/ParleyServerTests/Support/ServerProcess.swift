import Foundation

/// The real `parley serve` binary on a loopback port, with its database in a temporary folder.
final class ServerProcess: Sendable {
    let process: Process
    let log: ProcessLog
    let port: Int

    var pageURL: String { "http://127.0.0.1:\(port)/" }
    var webSocketURL: String { "ws://127.0.0.1:\(port)/ws" }

    /// Starts `parley serve` in `directory`; `port` 0 picks a free one.
    init(directory: URL, port: Int = 0, arguments: [String] = [], executable: URL? = nil) async throws {
        let executable = try executable ?? Self.executable()
        let process = Process()
        process.executableURL = executable
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", String(port)] + arguments
        process.currentDirectoryURL = directory
        let log = try ProcessLog.run(process)
        self.process = process
        self.log = log
        do {
            let announced = try await log.firstCapture(of: /open http:\/\/127\.0\.0\.1:(\d+)\//)
            self.port = Int(announced) ?? port
        } catch {
            process.terminate()
            throw error
        }
    }

    /// A test that fails before stopping its server must not leave it running.
    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status.
    @discardableResult
    func stop(timeout: Duration = .seconds(15)) async throws -> Int32 {
        if process.isRunning { process.terminate() }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw TestFailure("parley serve did not stop within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// The `parley` binary built next to the test bundle.
    static func executable() throws -> URL {
        let candidates = [
            Bundle.main.executableURL?.deletingLastPathComponent(),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
        ]
        for folder in candidates.compactMap({ $0 }) {
            for url in [
                folder, folder.deletingLastPathComponent(),
                folder.deletingLastPathComponent().deletingLastPathComponent(),
            ] {
                let candidate = url.appendingPathComponent("parley")
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory),
                    !isDirectory.boolValue,
                    FileManager.default.isExecutableFile(atPath: candidate.path)
                {
                    return candidate
                }
            }
        }
        throw TestFailure("the parley executable was not built next to the tests")
    }
}
