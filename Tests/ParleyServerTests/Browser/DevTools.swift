import Foundation

/// A Chrome DevTools Protocol connection to a browser: commands with replies, and the events
/// the browser reports, over one WebSocket (sessions of pages are "flattened" into it).
final class DevTools: Sendable {
    private let socket: ChatClient
    private let state = DevToolsState()
    private let reader: Task<Void, Never>

    init(url: String) async throws {
        // Screenshots arrive as one large frame.
        let socket = try await ChatClient.connect(url, maxFrameSize: 1 << 26)
        self.socket = socket
        let state = self.state
        self.reader = Task {
            while let text = try? await socket.nextText(timeout: .seconds(24 * 3600)) {
                guard let message = try? JSONValue.parse(text) else { continue }
                await state.receive(message)
            }
            await state.closed()
        }
    }

    /// Calls `method` (in a page's `session`, or on the browser) and returns its `result`.
    @discardableResult
    func call(
        _ method: String,
        _ parameters: [String: any Sendable] = [:],
        session: String? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> JSONValue {
        let socket = self.socket
        return try await state.call(timeout: timeout) { id in
            var command: [String: any Sendable] = ["id": id, "method": method, "params": parameters]
            if let session { command["sessionId"] = session }
            try socket.send(command)
        }
    }

    /// Events received so far with this `method` (in `session`), oldest first.
    func events(_ method: String, session: String?) async -> [JSONValue] {
        await state.events.filter { $0["method"]?.string == method && $0["sessionId"]?.string == session }
    }

    /// Waits for the first event with `method` in `session`.
    func waitForEvent(_ method: String, session: String?, timeout: Duration = .seconds(20)) async throws -> JSONValue {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let event = await events(method, session: session).first { return event }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure("no \(method) event within \(timeout)")
    }

    func close() async {
        await socket.close()
        reader.cancel()
    }
}

/// Calls waiting for their replies, and the events received.
private actor DevToolsState {
    private var nextID = 0
    private var waiters: [Int: CheckedContinuation<JSONValue, any Error>] = [:]
    private var isClosed = false
    private(set) var events: [JSONValue] = []

    func call(timeout: Duration, send: (Int) throws -> Void) async throws -> JSONValue {
        guard !isClosed else { throw TestFailure("the DevTools connection is closed") }
        nextID += 1
        let id = nextID
        let alarm = Task {
            try await Task.sleep(for: timeout)
            self.fail(id, TestFailure("DevTools call \(id) got no reply within \(timeout)"))
        }
        defer { alarm.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            waiters[id] = continuation
            do {
                try send(id)
            } catch {
                fail(id, error)
            }
        }
    }

    func receive(_ message: JSONValue) {
        guard let id = message["id"]?.int else {
            events.append(message)
            return
        }
        guard let waiter = waiters.removeValue(forKey: id) else { return }
        if let error = message["error"] {
            waiter.resume(throwing: TestFailure("DevTools error: \(error)"))
        } else {
            waiter.resume(returning: message["result"] ?? .null)
        }
    }

    func closed() {
        isClosed = true
        for id in waiters.keys { fail(id, TestFailure("the DevTools connection closed")) }
    }

    private func fail(_ id: Int, _ error: any Error) {
        waiters.removeValue(forKey: id)?.resume(throwing: error)
    }
}
