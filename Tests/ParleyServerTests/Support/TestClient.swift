import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket

/// A server event as a test sees it: every field any event may have.
struct Event: Decodable, Sendable, Equatable {
    var type: String
    var room: String?
    var nick: String?
    var members: [String]?
    var ref: String?
    var id: Int64?
    var text: String?
    var ts: String?
    var code: String?
    var message: String?
    var event: String?
    var truncated: Bool?
    var messages: [Event]?
    var mid: String?
    var session: String?
    var retryAfterMs: Int?

    enum CodingKeys: String, CodingKey {
        case type, room, nick, members, ref, id, text, ts, code, message, event, truncated, messages, mid, session
        case retryAfterMs = "retry_after_ms"
    }
}

/// A real WebSocket client (swift-websocket's) driven step by step: send a command, await the
/// next event, expect the server to close with a given code.
final class ChatClient: Sendable {
    enum Outgoing: Sendable {
        case text(String)
        case frame(WebSocketFrame)
        case close
    }

    private let inbox: Inbox
    private let outgoing: AsyncStream<Outgoing>.Continuation
    private let task: Task<Void, Never>

    private init(inbox: Inbox, outgoing: AsyncStream<Outgoing>.Continuation, task: Task<Void, Never>) {
        self.inbox = inbox
        self.outgoing = outgoing
        self.task = task
    }

    /// Connects to the server of `url` (its `/ws` URL) over `transport`.
    static func connect(
        _ url: String,
        transport: Transport = .webSocket,
        maxFrameSize: Int = 1 << 20
    ) async throws -> ChatClient {
        let (outStream, outContinuation) = AsyncStream.makeStream(of: Outgoing.self)
        let (ready, readyContinuation) = AsyncStream.makeStream(of: Result<Void, any Error>.self)
        let inbox = Inbox()
        let task: Task<Void, Never>
        if transport == .eventStream {
            guard let components = URLComponents(string: url), let host = components.host, let port = components.port
            else { throw TestFailure("not a server URL: \(url)") }
            task = Task {
                await EventStreamClient.run(
                    host: host,
                    port: port,
                    inbox: inbox,
                    outgoing: outStream,
                    ready: readyContinuation
                )
            }
        } else {
            task = Self.webSocketTask(
                url,
                maxFrameSize: maxFrameSize,
                inbox: inbox,
                outgoing: outStream,
                ready: readyContinuation
            )
        }
        var iterator = ready.makeAsyncIterator()
        let result = await iterator.next()
        guard case .success = result else {
            task.cancel()
            if case .failure(let error) = result { throw error }
            throw TestFailure("connection failed")
        }
        return ChatClient(inbox: inbox, outgoing: outContinuation, task: task)
    }

    private static func webSocketTask(
        _ url: String,
        maxFrameSize: Int,
        inbox: Inbox,
        outgoing outStream: AsyncStream<Outgoing>,
        ready readyContinuation: AsyncStream<Result<Void, any Error>>.Continuation
    ) -> Task<Void, Never> {
        Task {
            var logger = Logger(label: "test-client")
            logger.logLevel = .critical
            do {
                let closeFrame = try await WebSocketClient.connect(
                    url: url,
                    configuration: .init(maxFrameSize: maxFrameSize),
                    logger: logger
                ) { inbound, outbound, _ in
                    readyContinuation.yield(.success(()))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await item in outStream {
                                switch item {
                                case .text(let text): try await outbound.write(.text(text))
                                case .frame(let frame): try await outbound.write(.custom(frame))
                                case .close:
                                    try await outbound.close(.normalClosure, reason: nil)
                                    return
                                }
                            }
                        }
                        for try await message in inbound.messages(maxSize: 1 << 24) {
                            if case .text(let text) = message { await inbox.push(.text(text)) }
                        }
                        group.cancelAll()
                    }
                }
                await inbox.push(.closed(closeFrame.map { Int(UInt16(webSocketErrorCode: $0.closeCode)) }))
            } catch {
                readyContinuation.yield(.failure(error))
                await inbox.push(.closed(nil))
            }
        }
    }

    func send(_ json: String) {
        outgoing.yield(.text(json))
    }

    /// Sends a command built from a dictionary literal.
    func send(_ command: [String: any Sendable]) throws {
        let data = try JSONSerialization.data(withJSONObject: command)
        outgoing.yield(.text(String(decoding: data, as: UTF8.self)))
    }

    func sendFrame(_ frame: WebSocketFrame) {
        outgoing.yield(.frame(frame))
    }

    /// Sends a close frame and waits until the connection is closed.
    func close() async {
        outgoing.yield(.close)
        outgoing.finish()
        await task.value
    }

    /// The next event; fails when none comes within `timeout` or the connection closed.
    func next(timeout: Duration = .seconds(10)) async throws -> Event {
        switch await inbox.next(timeout: timeout) {
        case .text(let text)?:
            do {
                return try JSONDecoder().decode(Event.self, from: Data(text.utf8))
            } catch {
                throw TestFailure("not an event: \(text)")
            }
        case .closed(let code)?:
            throw TestFailure("connection closed (code \(code.map(String.init) ?? "none")) while waiting for an event")
        case nil:
            throw TestFailure("no event within \(timeout)")
        }
    }

    /// The next event, or the close code once the connection has closed.
    enum Received {
        case event(Event)
        case closed(Int?)
    }

    func receive(timeout: Duration = .seconds(10)) async throws -> Received {
        switch await inbox.next(timeout: timeout) {
        case .text(let text)?:
            return .event(try JSONDecoder().decode(Event.self, from: Data(text.utf8)))
        case .closed(let code)?:
            return .closed(code)
        case nil:
            throw TestFailure("no event within \(timeout)")
        }
    }

    /// The raw text of the next frame.
    func nextText(timeout: Duration = .seconds(10)) async throws -> String {
        guard case .text(let text)? = await inbox.next(timeout: timeout) else {
            throw TestFailure("no text frame within \(timeout)")
        }
        return text
    }

    /// The next event of type `type`, skipping others (for example presence); with `orError`, an
    /// `error` event is returned too.
    func next(ofType type: String, orError: Bool = false, timeout: Duration = .seconds(10)) async throws -> Event {
        while true {
            let event = try await next(timeout: timeout)
            if event.type == type || (orError && event.type == "error") { return event }
        }
    }

    /// Waits for the server to close the connection; returns its close code. Skips events.
    func closeCode(timeout: Duration = .seconds(10)) async throws -> Int? {
        while true {
            switch await inbox.next(timeout: timeout) {
            case .text?: continue
            case .closed(let code)?: return code
            case nil: throw TestFailure("connection still open after \(timeout)")
            }
        }
    }

    /// Fails if any frame arrives within `window`.
    func expectSilence(for window: Duration = .milliseconds(300)) async throws {
        if let event = await inbox.next(timeout: window) {
            throw TestFailure("expected nothing, got \(event)")
        }
    }

    /// Says each text in `room`, then waits until all are acknowledged; returns their ids.
    /// Other events that arrive meanwhile are skipped.
    @discardableResult
    func say(in room: String, _ texts: [String]) async throws -> [Int64] {
        for (index, text) in texts.enumerated() {
            try send(["type": "say", "room": room, "text": text, "ref": "say-\(index)"])
        }
        var ids: [Int64] = []
        while ids.count < texts.count {
            let event = try await next()
            if event.type == "error" { throw TestFailure("say failed: \(event)") }
            if event.type == "ack", let id = event.id { ids.append(id) }
        }
        return ids
    }

    /// Fails if a `message` event arrives within `window`; other events are skipped.
    func expectNoMessages(for window: Duration) async throws {
        let deadline = ContinuousClock.now + window
        while ContinuousClock.now < deadline {
            guard case .text(let text)? = await inbox.next(timeout: deadline - ContinuousClock.now) else { return }
            if text.contains(#""type":"message""#) { throw TestFailure("unexpected message: \(text)") }
        }
    }

    /// Joins `room` and returns the `joined` and `history` events.
    @discardableResult
    func join(
        _ room: String,
        nick: String? = nil,
        since: Int64? = nil,
        resume: String? = nil
    ) async throws -> (joined: Event, history: Event) {
        var command: [String: any Sendable] = ["type": "join", "room": room, "ref": "join-\(room)"]
        if let nick { command["nick"] = nick }
        if let since { command["since"] = since }
        if let resume { command["resume"] = resume }
        try send(command)
        let joined = try await next(ofType: "joined")
        let history = try await next()
        guard history.type == "history" else { throw TestFailure("expected history after joined, got \(history)") }
        return (joined, history)
    }
}

/// Frames received by a client, waited for with a timeout.
actor Inbox {
    enum Item: Sendable {
        case text(String)
        case closed(Int?)
    }

    private var items: [Item] = []
    private var waiter: (id: UInt64, continuation: CheckedContinuation<Item?, Never>)?
    private var nextWaiterID: UInt64 = 0

    func push(_ item: Item) {
        if let waiter {
            self.waiter = nil
            waiter.continuation.resume(returning: item)
        } else {
            items.append(item)
        }
    }

    func next(timeout: Duration) async -> Item? {
        if !items.isEmpty { return items.removeFirst() }
        nextWaiterID += 1
        let id = nextWaiterID
        return await withCheckedContinuation { continuation in
            waiter = (id, continuation)
            Task {
                try? await Task.sleep(for: timeout)
                self.expire(id)
            }
        }
    }

    private func expire(_ id: UInt64) {
        guard let waiter, waiter.id == id else { return }
        self.waiter = nil
        waiter.continuation.resume(returning: nil)
    }
}
