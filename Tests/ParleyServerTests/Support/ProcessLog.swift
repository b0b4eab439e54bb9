import Foundation

/// Everything a child process writes to one pipe, kept for waiting on a line and for failure
/// messages. The pipe is drained all the time, so a chatty process never blocks on a full pipe.
actor ProcessLog {
    private(set) var text = ""
    private var closed = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// Starts `process` with its standard output and error going to a new log.
    static func run(_ process: Process) throws -> ProcessLog {
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        let log = ProcessLog()
        log.attach(output)
        try process.run()
        return log
    }

    /// Starts draining `pipe`.
    private nonisolated func attach(_ pipe: Pipe) {
        // A stream keeps the chunks in order; one task per chunk would not.
        let (chunks, continuation) = AsyncStream.makeStream(of: String.self)
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                continuation.finish()
            } else {
                continuation.yield(String(decoding: data, as: UTF8.self))
            }
        }
        Task {
            for await chunk in chunks { await self.append(chunk) }
            await self.finish()
        }
    }

    private func append(_ chunk: String) {
        text += chunk
        wakeWaiters()
    }

    private func finish() {
        closed = true
        wakeWaiters()
    }

    private func wakeWaiters() {
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter.resume() }
    }

    /// The first capture of `regex` in the output; fails when the pipe closes or time runs out.
    func firstCapture(of regex: Regex<(Substring, Substring)>, timeout: Duration = .seconds(30)) async throws -> String
    {
        let deadline = ContinuousClock.now + timeout
        let alarm = Task {
            try await Task.sleep(until: deadline)
            self.wakeWaiters()
        }
        defer { alarm.cancel() }
        while true {
            if let match = text.firstMatch(of: regex) { return String(match.1) }
            if closed { throw TestFailure("the process exited without the expected line; its output:\n\(text)") }
            if ContinuousClock.now >= deadline {
                throw TestFailure("no expected line within \(timeout); output:\n\(text)")
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }
}
