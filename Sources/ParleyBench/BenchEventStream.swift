import NIOCore
import NIOHTTP1
import NIOPosix

/// Which of the server's transports the generator's clients speak.
public enum BenchTransport: String, Sendable, CaseIterable {
    /// `/ws`, one WebSocket per client.
    case webSocket = "websocket"
    /// The HTTP transport: a `GET /events` stream per client, and its commands as `POST`s on a
    /// second, keep-alive connection.
    case eventStream = "events"
}

/// One client of the HTTP transport, as channel handlers only (no task per client, like the
/// WebSocket client): the stream's events are handed to `onText` on the stream's event loop,
/// and commands are posted one after the other, in order.
struct BenchEventStream: Sendable {
    let stream: any Channel
    let poster: NIOLoopBound<BenchPoster>

    /// Opens the stream and waits for its token; commands then go out through ``send(_:)``.
    static func connect(
        host: String,
        port: Int,
        onPolicyClose: @escaping @Sendable () -> Void,
        onText: @escaping @Sendable (String) -> Void
    ) async throws -> BenchEventStream {
        // The stream and its posts on one event loop, which also fulfils the token's promise.
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let bootstrap = ClientBootstrap(group: eventLoop).channelOption(.tcpOption(.tcp_nodelay), value: 1)
        let token = eventLoop.makePromise(of: String.self)
        let stream = try await bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                try channel.pipeline.syncOperations.addHandler(
                    BenchStreamHandler(token: token, onText: onText, onPolicyClose: onPolicyClose)
                )
            }
        }.connect(host: host, port: port).get()
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Accept", value: "text/event-stream")
        stream.write(
            HTTPClientRequestPart.head(
                HTTPRequestHead(version: .http1_1, method: .GET, uri: "/events", headers: headers)
            ),
            promise: nil
        )
        stream.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let streamToken = try await token.futureResult.get()
        let poster = try await eventLoop.submit {
            NIOLoopBound(
                BenchPoster(host: host, port: port, token: streamToken, eventLoop: eventLoop, onText: onText),
                eventLoop: eventLoop
            )
        }.get()
        return BenchEventStream(stream: stream, poster: poster)
    }

    func send(_ text: String) {
        if poster.eventLoop.inEventLoop {
            poster.value.post(text)
        } else {
            let poster = self.poster
            poster.eventLoop.execute { poster.value.post(text) }
        }
    }

    func close() async {
        let poster = self.poster
        try? await poster.eventLoop.submit { poster.value.close() }.get()
        try? await stream.close()
    }
}

/// Reads a Server-Sent Events response: the first event's token fulfils `token`, every later
/// event's `data` goes to `onText`, and a `close` event with 1008 calls `onPolicyClose`.
final class BenchStreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let token: EventLoopPromise<String>
    private let onText: @Sendable (String) -> Void
    private let onPolicyClose: @Sendable () -> Void
    private var pending = ByteBuffer()
    private var haveToken = false

    init(
        token: EventLoopPromise<String>,
        onText: @escaping @Sendable (String) -> Void,
        onPolicyClose: @escaping @Sendable () -> Void
    ) {
        self.token = token
        self.onText = onText
        self.onPolicyClose = onPolicyClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head) where head.status != .ok:
            token.fail(BenchError("the server refused the event stream: \(head.status.code)"))
            context.close(promise: nil)
        case .head:
            break
        case .body(var buffer):
            pending.writeBuffer(&buffer)
            readEvents()
        case .end:
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        token.fail(BenchError("the event stream closed before its token"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Hands on every complete event (lines up to a blank line) in `pending`.
    private func readEvents() {
        while let end = pending.withUnsafeReadableBytes({ $0.bindMemory(to: UInt8.self).offset(of: "\n\n") }) {
            guard let event = pending.readString(length: end) else { return }
            pending.moveReaderIndex(forwardBy: 2)
            var data: Substring?
            var isClose = false
            for line in event.split(separator: "\n") {
                if line.hasPrefix("data: ") {
                    data = line.dropFirst(6)
                } else if line == "event: close" {
                    isClose = true
                }
            }
            guard let data else { continue }  // a keep-alive comment
            if isClose {
                if data.contains(#""code":1008"#) { onPolicyClose() }
            } else if haveToken {
                onText(String(data))
            } else if let start = data.range(of: #""token":""#)?.upperBound {
                haveToken = true
                token.succeed(String(data[start...].prefix { $0 != "\"" }))
            }
        }
        pending.discardReadBytes()
    }
}

/// Posts a stream's commands on a keep-alive connection, one at a time so that they arrive in
/// order, opening a new connection when the server has closed the last one (its idle timeout
/// runs while a large run's other clients join). A command the server cannot queue yet (429) is
/// posted again shortly; any other refusal is handed to `onText` as the error it carries, as a
/// WebSocket would have sent it. Lives on one event loop.
final class BenchPoster {
    private let host: String
    private let port: Int
    private let uri: String
    private let eventLoop: any EventLoop
    private let onText: @Sendable (String) -> Void
    private var connection: (any Channel)?
    private var connecting = false
    private var closed = false
    private var queue: [String] = []
    private var inFlight: String?

    init(host: String, port: Int, token: String, eventLoop: any EventLoop, onText: @escaping @Sendable (String) -> Void)
    {
        self.host = host
        self.port = port
        self.uri = "/events/\(token)"
        self.eventLoop = eventLoop
        self.onText = onText
    }

    func post(_ text: String) {
        queue.append(text)
        postNext()
    }

    func close() {
        closed = true
        connection?.close(promise: nil)
    }

    private func postNext() {
        guard inFlight == nil, !queue.isEmpty, !closed else { return }
        guard let connection, connection.isActive else {
            connect()
            return
        }
        let text = queue.removeFirst()
        inFlight = text
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(text.utf8.count))
        connection.write(
            HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: uri, headers: headers)),
            promise: nil
        )
        connection.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: text))), promise: nil)
        connection.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    private func connect() {
        guard !connecting else { return }
        connecting = true
        let poster = NIOLoopBound(self, eventLoop: eventLoop)
        ClientBootstrap(group: eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(BenchPostResponseHandler(poster: poster))
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                poster.value.connecting = false
                switch result {
                case .success(let channel):
                    poster.value.connection = channel
                    poster.value.postNext()
                case .failure:
                    // The server is gone or busy: try again shortly, as a reconnecting client would.
                    poster.eventLoop.scheduleTask(in: .milliseconds(100)) { poster.value.postNext() }
                }
            }
    }

    /// The answer to the command in flight.
    fileprivate func answered(status: Int, body: String) {
        let posted = inFlight
        inFlight = nil
        if status == 429, let posted {
            queue.insert(posted, at: 0)
            let poster = NIOLoopBound(self, eventLoop: eventLoop)
            eventLoop.scheduleTask(in: .milliseconds(5)) { poster.value.postNext() }
            return
        }
        if status != 202, !body.isEmpty { onText(body) }
        postNext()
    }

    /// The connection closed. A command in flight is not sent again (it may have run); the next
    /// ones go out on a new connection.
    fileprivate func connectionClosed(_ channel: any Channel) {
        guard connection === channel else { return }
        connection = nil
        inFlight = nil
        postNext()
    }
}

/// Reads the answers on a poster's connection.
final class BenchPostResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let poster: NIOLoopBound<BenchPoster>
    private var status = 0
    private var body = ""

    init(poster: NIOLoopBound<BenchPoster>) {
        self.poster = poster
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            body = ""
        case .body(let buffer):
            body += String(buffer: buffer)
        case .end:
            poster.value.answered(status: status, body: body)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        poster.value.connectionClosed(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
