import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// One client of the load generator: commands go out through ``send(_:)``, every event
/// received is handed to the `onText` closure, in order, on the connection's event loop. Over a
/// WebSocket by default, or over the HTTP transport (``BenchEventStream``).
///
/// It is a NIO channel handler and nothing else (no task, no stream per connection), so that the
/// generator costs less per message than the server it measures: a send made while handling a
/// received frame (the next message after an ack) is written without a flush of its own and
/// flushed once at the end of the read.
final class BenchClient: Sendable {
    private enum Link {
        case webSocket(any Channel, NIOLoopBound<BenchFrameHandler>)
        case eventStream(BenchEventStream)
    }

    private let link: Link

    private init(_ link: Link) {
        self.link = link
    }

    /// Opens a connection; returns once the WebSocket handshake is done, or the event stream
    /// has given its token. `onPolicyClose` is called if the server closes the connection with
    /// 1008 (its limits, not a failure).
    static func connect(
        _ url: String,
        over transport: BenchTransport = .webSocket,
        onPolicyClose: @escaping @Sendable () -> Void = {},
        onText: @escaping @Sendable (String) -> Void
    ) async throws -> BenchClient {
        guard let target = WebSocketURL(url) else { throw BenchError("not a ws:// URL: \(url)") }
        if transport == .eventStream {
            let stream = try await BenchEventStream.connect(
                host: target.host,
                port: target.port,
                onPolicyClose: onPolicyClose,
                onText: onText
            )
            return BenchClient(.eventStream(stream))
        }
        let upgrade: EventLoopFuture<UpgradeOutcome> = try await ClientBootstrap(
            group: MultiThreadedEventLoopGroup.singleton
        )
        .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        .connect(host: target.host, port: target.port) { channel in
            channel.eventLoop.makeCompletedFuture {
                let upgrader = NIOTypedWebSocketClientUpgrader<UpgradeOutcome>(
                    maxFrameSize: 1 << 24,
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            let handler = BenchFrameHandler(onText: onText, onPolicyClose: onPolicyClose)
                            try channel.pipeline.syncOperations.addHandler(
                                NIOWebSocketFrameAggregator(
                                    minNonFinalFragmentSize: 0,
                                    maxAccumulatedFrameCount: 1 << 16,
                                    maxAccumulatedFrameSize: 1 << 24
                                )
                            )
                            try channel.pipeline.syncOperations.addHandler(handler)
                            return .upgraded(channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                        }
                    }
                )
                var headers = HTTPHeaders()
                headers.add(name: "Host", value: "\(target.host):\(target.port)")
                let configuration = NIOTypedHTTPClientUpgradeConfiguration<UpgradeOutcome>(
                    upgradeRequestHead: HTTPRequestHead(
                        version: .http1_1,
                        method: .GET,
                        uri: target.path,
                        headers: headers
                    ),
                    upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in
                        channel.eventLoop.makeCompletedFuture { .refused }
                    }
                )
                return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                    configuration: .init(upgradeConfiguration: configuration)
                )
            }
        }
        switch try await upgrade.get() {
        case .upgraded(let channel, let handler):
            return BenchClient(.webSocket(channel, handler))
        case .refused:
            throw BenchError("the server at \(url) refused the WebSocket upgrade")
        }
    }

    func send(_ text: String) {
        switch link {
        case .webSocket(_, let handler):
            if handler.eventLoop.inEventLoop {
                handler.value.send(text)
            } else {
                handler.eventLoop.execute { handler.value.send(text) }
            }
        case .eventStream(let stream):
            stream.send(text)
        }
    }

    /// Closes the connection (a WebSocket with a normal closure) and waits until it is gone.
    func close() async {
        switch link {
        case .webSocket(let channel, let handler):
            handler.eventLoop.execute { handler.value.close() }
            try? await channel.closeFuture.get()
        case .eventStream(let stream):
            await stream.close()
        }
    }
}

private enum UpgradeOutcome: Sendable {
    case upgraded(any Channel, NIOLoopBound<BenchFrameHandler>)
    case refused
}

/// The generator's side of one WebSocket: masks what it sends, answers pings and the close
/// handshake, and hands text frames on.
final class BenchFrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let onText: @Sendable (String) -> Void
    private let onPolicyClose: @Sendable () -> Void
    private var context: ChannelHandlerContext?
    private var reading = false
    private var unflushed = false
    private var closeSent = false

    init(onText: @escaping @Sendable (String) -> Void, onPolicyClose: @escaping @Sendable () -> Void) {
        self.onText = onText
        self.onPolicyClose = onPolicyClose
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func send(_ text: String) {
        guard let context, !closeSent else { return }
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        write(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer), context: context)
    }

    /// Starts the close handshake; the server answers and closes the socket, or, if it does not
    /// within 2 s, the socket is closed from here.
    func close() {
        guard let context else { return }
        sendClose(code: 1000, context: context)
        let channel = context.channel
        context.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reading = true
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            onText(String(buffer: frame.unmaskedData))
        case .ping:
            write(
                WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData),
                context: context
            )
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readInteger(as: UInt16.self)
            if code == 1008 { onPolicyClose() }
            if closeSent {
                context.close(promise: nil)
            } else {
                sendClose(code: code ?? 1000, context: context)
                context.flush()
                context.close(promise: nil)
            }
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reading = false
        if unflushed {
            unflushed = false
            context.flush()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func sendClose(code: UInt16, context: ChannelHandlerContext) {
        guard !closeSent else { return }
        closeSent = true
        var payload = context.channel.allocator.buffer(capacity: 2)
        payload.writeInteger(code)
        write(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: payload), context: context)
    }

    private func write(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        if reading {
            context.write(wrapOutboundOut(frame), promise: nil)
            unflushed = true
        } else {
            context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        }
    }
}

/// `ws://host:port/path`, the only form the generator needs.
struct WebSocketURL {
    var host: String
    var port: Int
    var path: String

    init?(_ url: String) {
        guard url.hasPrefix("ws://") else { return nil }
        let rest = url.dropFirst(5)
        let authority = rest.prefix { $0 != "/" }
        path = rest.count > authority.count ? String(rest.dropFirst(authority.count)) : "/"
        if let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]) {
            host = String(authority[..<colon])
            self.port = port
        } else {
            host = String(authority)
            port = 80
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
    }
}

/// A failure that ends a benchmark run, with a sentence for the operator.
public struct BenchError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
