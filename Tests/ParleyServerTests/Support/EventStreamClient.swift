import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// Which of the server's transports a test client speaks; the protocol tests run over both.
enum Transport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case webSocket
    case eventStream

    var testDescription: String { rawValue }
}

/// The HTTP transport as a test sees it: a real `GET /events` read as Server-Sent Events over
/// NIO's HTTP client codec, and each command a real `POST /events/<token>`, one after the other
/// so that they reach the server in the order sent.
enum EventStreamClient {
    /// Opens the stream, reads events into `inbox` (a `close` event, or the end of the stream,
    /// as `.closed`), and posts what `outgoing` yields until it ends or yields `.close`.
    static func run(
        host: String,
        port: Int,
        inbox: Inbox,
        outgoing: AsyncStream<ChatClient.Outgoing>,
        ready: AsyncStream<Result<Void, any Error>>.Continuation
    ) async {
        let (tokens, tokenContinuation) = AsyncStream.makeStream(of: String.self)
        let (items, itemContinuation) = AsyncStream.makeStream(of: Inbox.Item.self)
        // One task moves what the reader parses into the inbox, in order.
        let forwarding = Task { for await item in items { await inbox.push(item) } }
        defer { forwarding.cancel() }
        let reader = EventStreamReader(items: itemContinuation, token: tokenContinuation)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(reader)
                    }
                }
                .connect(host: host, port: port).get()
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: "\(host):\(port)")
            headers.add(name: "Accept", value: "text/event-stream")
            channel.write(
                HTTPClientRequestPart.head(
                    HTTPRequestHead(version: .http1_1, method: .GET, uri: "/events", headers: headers)
                ),
                promise: nil
            )
            try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        } catch {
            ready.yield(.failure(error))
            await inbox.push(.closed(nil))
            return
        }
        var tokenIterator = tokens.makeAsyncIterator()
        guard let token = await tokenIterator.next() else {
            ready.yield(.failure(TestFailure("the event stream ended before its stream event")))
            await forwarding.value
            return
        }
        ready.yield(.success(()))
        for await item in outgoing {
            switch item {
            case .text(let text):
                // A refused POST answers with an `error` object: the test sees it as the
                // command's reply, as it would see the error event on a WebSocket.
                let response = (try? await post(text, token: token, host: host, port: port)) ?? ""
                if RawHTTP.status(response) != 202,
                    let body = response.range(of: "\r\n\r\n").map({ response[$0.upperBound...] })
                {
                    itemContinuation.yield(.text(String(body)))
                }
            case .frame:
                break  // frames are the WebSocket's
            case .close:
                try? await channel.close()
                await forwarding.value
                return
            }
        }
        try? await channel.close()
        await forwarding.value
    }

    /// `POST /events/<token>` with `body`; returns the whole response.
    static func post(
        _ body: String,
        token: String,
        host: String,
        port: Int,
        headers: [String] = []
    ) async throws -> String {
        let extra = headers.map { $0 + "\r\n" }.joined()
        return try await RawHTTP.exchange(
            "POST /events/\(token) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\(extra)Connection: close\r\n\r\n\(body)",
            port: port
        )
    }
}

/// Parses the stream's body into events: `data:` lines make an event's text, `event: close`
/// ends the stream with the code it carries; comments and ids are skipped.
private final class EventStreamReader: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    private let items: AsyncStream<Inbox.Item>.Continuation
    private let token: AsyncStream<String>.Continuation
    private var pending: [UInt8] = []
    private var eventName = ""
    private var data = ""
    private var closedWith: Int?
    private var finished = false

    init(items: AsyncStream<Inbox.Item>.Continuation, token: AsyncStream<String>.Continuation) {
        self.items = items
        self.token = token
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if head.status != .ok { finish(code: nil) }
        case .body(let buffer):
            pending += buffer.readableBytesView
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                handle(line)
            }
        case .end:
            finish(code: closedWith)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(code: closedWith)
    }

    private func handle(_ line: String) {
        if line.isEmpty {
            dispatch()
        } else if line.hasPrefix("data: ") {
            data += line.dropFirst(6)
        } else if line.hasPrefix("event: ") {
            eventName = String(line.dropFirst(7))
        }
    }

    private func dispatch() {
        defer {
            eventName = ""
            data = ""
        }
        guard !data.isEmpty else { return }
        if eventName == "close" {
            let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any]
            closedWith = object?["code"] as? Int
            return
        }
        if data.hasPrefix(#"{"type":"stream","token":""#) {
            token.yield(String(data.dropFirst(26).prefix { $0 != "\"" }))
            return
        }
        items.yield(.text(data))
    }

    private func finish(code: Int?) {
        guard !finished else { return }
        finished = true
        token.finish()
        items.yield(.closed(code))
        items.finish()
    }
}
