import NIOCore
import NIOHTTP1
import ParleyChat

/// One client of the HTTP transport: a Server-Sent Events response that stays open and carries
/// the protocol's events, while the client's commands arrive as `POST`s to the stream's URL
/// (``EventStreamRoutes``), from the open to the close, as a single channel handler.
///
/// Like ``WebSocketConnection`` it keeps no task: events are written from the event loop,
/// commands run in a task only while some wait, and keep-alive comments come from the sweep
/// of the connection's event loop.
final class EventStreamConnection: ChannelDuplexHandler, RemovableChannelHandler, SweptConnection,
    ChatLinkHandler
{
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoint: WebSocketEndpoint
    private var context: ChannelHandlerContext?
    private var link = ChatLink()
    /// The stream's token in the endpoint's directory; set when the stream opens.
    private var token = ""
    /// The client's address as the admission limits count it; set when the stream opens.
    private var address = ""
    /// The response ended (a close event, or a refusal): nothing more is written.
    private var ended = false
    /// The `id` of the last event sent.
    private var lastEventID: UInt64 = 0
    private var lastWrite = NIODeadline.now()
    var sweepSlot = -1

    init(endpoint: WebSocketEndpoint) {
        self.endpoint = endpoint
    }

    /// Where a client opens its stream; commands go to `path/<token>`.
    static let path = "/events"

    /// Whether a request opens an event stream: a `GET` of ``path`` (a query is ignored).
    static func isStreamRequest(_ head: HTTPRequestHead) -> Bool {
        head.method == .GET
            && head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first == path[...]
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        endpoint.sweeper.add(self, on: context.eventLoop)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        endpoint.sweeper.remove(self, on: context.eventLoop)
        self.context = nil
        connectionEnded()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connectionEnded()
        context.fireChannelInactive()
    }

    /// The stream's request (a `GET` without a body) is all the client sends on this connection;
    /// anything after it is ignored.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data),
            let deadline = try? context.pipeline.syncOperations.handler(
                type: RequestDeadlineHandler.self
            )
        {
            // The request is complete: its deadline no longer applies.
            context.pipeline.syncOperations.removeHandler(deadline, promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A client that half-closes is gone: an event stream is read until the client leaves.
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        endpoint.logger.debug("Event stream failed: \(error)")
        context.close(promise: nil)
    }

    // MARK: Opening

    /// Answers the stream's request with `refusal`'s status and sentence, and closes.
    func refuse(_ refusal: Refusal) {
        guard let context, !ended else { return }
        ended = true
        var headers = HTTPHeaders()
        for field in refusal.headers { headers.add(name: field.name.rawName, value: field.value) }
        headers.replaceOrAdd(name: "content-type", value: "text/plain; charset=utf-8")
        headers.replaceOrAdd(name: "content-length", value: String(refusal.reason.utf8.count + 1))
        headers.replaceOrAdd(name: "connection", value: "close")
        let status = HTTPResponseStatus(statusCode: refusal.status.code, reasonPhrase: refusal.status.reasonPhrase)
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil
        )
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: refusal.reason + "\n")))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Starts the stream for an admitted client: the response head, then the `stream` event that
    /// gives the client its token, then whatever the chat sends.
    func attach(_ connection: ChatService.Connection, token: String, address: String) {
        self.address = address
        self.token = token
        guard let context,
            link.attach(connection, to: self, on: context.eventLoop, counting: endpoint.eventStreamMetrics)
        else {
            connection.outgoing.detach()
            let endpoint = self.endpoint
            let id = connection.session.connectionID
            Task { await endpoint.disconnectStream(id, token: token, address: address) }
            return
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/event-stream; charset=utf-8")
        headers.add(name: "cache-control", value: "no-store")
        // nginx and others pass each event on at once instead of buffering the response.
        headers.add(name: "x-accel-buffering", value: "no")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
            promise: nil
        )
        var first = context.channel.allocator.buffer(capacity: 64)
        first.writeString(#"{"type":"stream","token":""#)
        first.writeString(token)
        first.writeString(#""}"#)
        writeEvents([first])
        context.flush()
        endpoint.logger.debug(
            "Event stream opened",
            metadata: ["parley.connection": "\(connection.session.connectionID)"]
        )
    }

    // MARK: Commands

    /// A command `POST`ed for this stream. Returns false, without queueing it, when the stream is
    /// gone or too many commands already wait (the client should retry shortly).
    func received(_ text: String) -> PostOutcome {
        guard link.attachment != nil, !link.channelClosed, !ended else { return .gone }
        guard link.waitingBytes + text.utf8.count <= ChatLink.maxWaitingBytes else { return .busy }
        link.queue(text, counting: endpoint.eventStreamMetrics)
        startRunner()
        return .accepted
    }

    enum PostOutcome: Sendable { case accepted, busy, gone }

    private func startRunner() {
        guard let context, let (commands, session) = link.startRunner() else { return }
        let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
        CommandRunner.start(commands, session: session, on: context.eventLoop, endpoint: endpoint) {
            connection.value.nextCommands(after: $0)
        }
    }

    private func nextCommands(after session: ChatSession) -> NextCommands {
        let next = link.nextCommands(after: session, address: address)
        if case .closed = next {
            let endpoint = self.endpoint
            let token = self.token
            Task { await endpoint.forgetStream(token) }
        }
        return next
    }

    private func connectionEnded() {
        guard let attachment = link.channelEnded(counting: endpoint.eventStreamMetrics) else { return }
        endpoint.logger.debug("Event stream closed", metadata: ["parley.connection": "\(attachment.id)"])
        let endpoint = self.endpoint
        let token = self.token
        let address = self.address
        Task { await endpoint.disconnectStream(attachment.id, token: token, address: address) }
    }

    // MARK: Writing

    func writeOutbox() {
        guard
            link.drainOutbox(
                discard: context == nil || ended,
                write: { outgoing, frames, payloadBytes in
                    writeEvents(frames) { outgoing.wrote(payloadBytes) }
                }
            )
        else { return }
        context?.flush()
    }

    /// Writes `events` as Server-Sent Events, each with the next `id`. A protocol event is one
    /// line of JSON (JSON escapes every line break), so one `data:` line carries it.
    private func writeEvents(_ events: [ByteBuffer], written: (@Sendable () -> Void)? = nil) {
        guard let context else { return }
        var size = 0
        for event in events { size += event.readableBytes + 32 }
        var buffer = context.channel.allocator.buffer(capacity: size)
        for event in events {
            lastEventID += 1
            buffer.writeStaticString("id: ")
            buffer.writeString(String(lastEventID))
            buffer.writeStaticString("\ndata: ")
            buffer.writeImmutableBuffer(event)
            buffer.writeStaticString("\n\n")
        }
        lastWrite = .now()
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        guard let written else { return }
        // Told when the events are out through an empty write after them (writes complete in
        // order): NIO's chunked encoder passes an empty part on as it is, where a promise on the
        // chunk itself would cost three more promises and their cascade on every delivery.
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in written() }
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer()))), promise: promise)
    }

    func outboxEnded(_ end: Outbox.End) {
        switch end {
        case .close(let reason): sendClose(reason)
        case .overflow: sendClose(endpoint.slowConsumerClosing())
        }
    }

    /// Ends the stream with a `close` event that carries the code and reason a WebSocket would
    /// have closed with, so that a client handles both transports alike.
    private func sendClose(_ reason: CloseReason) {
        guard let context, !ended else { return }
        ended = true
        var buffer = context.channel.allocator.buffer(capacity: 64 + reason.reason.utf8.count)
        buffer.writeStaticString("event: close\ndata: ")
        var json = context.channel.allocator.buffer(capacity: 48 + reason.reason.utf8.count)
        json.writeString(#"{"code":\#(reason.code),"reason":"#)
        json.writeJSONString(reason.reason)
        json.writeStaticString("}")
        buffer.writeBuffer(&json)
        buffer.writeStaticString("\n\n")
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    // MARK: Timers

    /// Called by the event loop's sweep: a comment line keeps a quiet stream open through
    /// proxies that close idle responses, and a write to a vanished client fails and closes it.
    func sweep(now: NIODeadline) {
        guard let context, link.attachment != nil, !ended, now - lastWrite >= endpoint.pingInterval else { return }
        lastWrite = now
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: ": keep-alive\n\n")))), promise: nil)
    }
}

extension ByteBuffer {
    /// A JSON string literal: quotes, backslashes and control characters escaped.
    mutating func writeJSONString(_ string: String) {
        writeStaticString("\"")
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": writeStaticString("\\\"")
            case "\\": writeStaticString("\\\\")
            case "\n": writeStaticString("\\n")
            case _ where scalar.value < 0x20: writeStaticString(" ")  // reasons are sentences; no control characters
            default: writeString(String(scalar))
            }
        }
        writeStaticString("\"")
    }
}
