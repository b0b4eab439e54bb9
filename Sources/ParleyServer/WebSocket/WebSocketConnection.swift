import Logging
import NIOCore
import ParleyChat

/// One WebSocket connection, from the upgrade to the close, as a single channel handler.
///
/// No Swift task lives with the connection: frames are parsed and control frames answered on
/// the event loop, commands run in a task that exists only while the connection has input
/// waiting, the outbox is written from the event loop, and pings and deadlines are checked by
/// the sweep of the connection's event loop (``ConnectionSweeper``). An idle connection is this
/// handler, its channel and its chat state: about 4 KB of RSS (docs/PERFORMANCE.md), where a task per
/// connection kept 20-30 KB of task-allocator slabs alive.
final class WebSocketConnection: ChannelDuplexHandler, RemovableChannelHandler, SweptConnection, ChatLinkHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What the connection serves.
    enum Role: Sendable {
        /// The chat, for a client counted against the admission limits under this address.
        case chat(address: String)
        /// The conformance endpoint: every message back as it came.
        case echo
    }

    /// What comes in next: frames, data frames ignored (a message rule was broken and the close
    /// is on its way), or nothing at all (the byte stream can no longer be parsed, or the
    /// client's close frame came).
    private enum Input { case frames, controlOnly, ignored }

    private let endpoint: WebSocketEndpoint
    private let role: Role
    private var context: ChannelHandlerContext?
    private var parser: FrameParser
    private var assembler: MessageAssembler
    private var input = Input.frames
    private var link = ChatLink()
    private var readPaused = false
    private var readPending = false
    private var closeSent = false
    /// When anything was last heard from the client.
    private var lastHeard = NIODeadline.now()
    private var pingSentAt: NIODeadline?
    /// After the server's close frame: when the connection is dropped if the client has not
    /// answered.
    private var closeDeadline: NIODeadline?
    /// The connection's place in its event loop's sweep.
    var sweepSlot = -1

    /// The client's address, as the admission limits count it (kept once, in ``role``).
    private var address: String {
        if case .chat(let address) = role { address } else { "" }
    }

    init(endpoint: WebSocketEndpoint, role: Role) {
        self.endpoint = endpoint
        self.role = role
        var limits = endpoint.limits
        if case .echo = role { limits.acceptsBinary = true }
        parser = FrameParser(maxPayloadBytes: limits.maxMessageBytes)
        assembler = MessageAssembler(limits: limits)
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

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastHeard = .now()
        pingSentAt = nil
        guard input != .ignored else { return }
        do throws(FrameViolation) {
            try parser.parse(unwrapInboundIn(data)) { frame throws(FrameViolation) in
                try receive(frame)
            }
        } catch {
            // The stream cannot be parsed past a broken header: nothing more is read from it.
            input = .ignored
            broke(error, canReadClose: false)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Hummingbird allows half-closed connections, so a client's FIN arrives as this event
        // rather than as a closed channel. A WebSocket client that stops sending is gone
        // (RFC 6455 closes with a close frame first): close now, not at the next ping.
        if let event = event as? ChannelEvent, event == .inputClosed {
            input = .ignored
            context.close(promise: nil)
        }
        // The chat's connections are closed by the chat's own drain before the server quiesces.
        if event is ChannelShouldQuiesceEvent, case .echo = role {
            sendClose(.goingAway, thenDrop: false)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        endpoint.logger.debug("WebSocket connection failed: \(error)")
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if readPaused {
            readPending = true
        } else {
            context.read()
        }
    }

    // MARK: Frames

    private func receive(_ frame: ClientFrame) throws(FrameViolation) {
        switch frame.opcode {
        case .ping:
            if !closeSent { write(opcode: 0xA, payload: frame.payload) }
        case .pong:
            break  // hearing anything resets the ping timer
        case .close:
            receivedClose(frame.payload)
        case .text, .binary, .continuation:
            guard input == .frames else { return }
            do {
                switch try assembler.add(frame) {
                case .incomplete:
                    break
                case .text(let text):
                    received(text)
                case .binary(let bytes):
                    write(opcode: 0x2, payload: bytes)
                }
            } catch {
                // The frames still parse: the client's close frame can end the handshake.
                input = .controlOnly
                broke(error, canReadClose: true)
            }
        }
    }

    private func received(_ text: String) {
        guard case .chat = role else {
            write(opcode: 0x1, payload: ByteBuffer(string: text))
            return
        }
        link.queue(text, counting: endpoint.webSocketMetrics)
        if link.waitingBytes > ChatLink.maxWaitingBytes { readPaused = true }
        startRunner()
    }

    /// The client broke a frame or message rule: close with its code. The chat first answers
    /// every command accepted before; after a broken header the byte stream is dropped once the
    /// close frame is out, since the client's answer could not be read anyway.
    private func broke(_ violation: FrameViolation, canReadClose: Bool) {
        endpoint.logger.debug("Closing a connection that broke a frame rule: \(violation.reason)")
        let reason = CloseReason(code: violation.code, reason: violation.reason)
        if let attachment = link.attachment {
            attachment.outgoing.closeAfterReplies(reason)
        } else {
            sendClose(reason, thenDrop: !canReadClose)
        }
    }

    private func receivedClose(_ payload: ByteBuffer) {
        input = .ignored
        if closeSent {
            context?.close(promise: nil)  // the handshake is complete
            return
        }
        sendClose(Self.answer(toClose: payload), thenDrop: true)
    }

    /// The close frame that answers a client's close frame (RFC 6455 §5.5.1, §7.4).
    static func answer(toClose payload: ByteBuffer) -> CloseReason {
        var payload = payload
        guard payload.readableBytes > 0 else { return CloseReason(code: 1000, reason: "") }
        guard let code = payload.readInteger(as: UInt16.self) else {
            return CloseReason(code: 1002, reason: "a close frame's payload is a 2-byte code, then a reason")
        }
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: break
        default: return CloseReason(code: 1002, reason: "close code \(code) may not be sent")
        }
        guard String(validating: payload.readableBytesView, as: UTF8.self) != nil else {
            return CloseReason(code: 1007, reason: "a close reason must be valid UTF-8")
        }
        return CloseReason(code: 1000, reason: "")
    }

    // MARK: Commands

    /// Hands the waiting commands to a task, unless one runs or the chat is not attached yet.
    /// The task lives until the commands run out: an idle connection holds none.
    private func startRunner() {
        guard let context, let (commands, session) = link.startRunner() else { return }
        resumeReading()
        let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
        CommandRunner.start(commands, session: session, on: context.eventLoop, endpoint: endpoint) {
            connection.value.nextCommands(after: $0)
        }
    }

    private func nextCommands(after session: ChatSession) -> NextCommands {
        let next = link.nextCommands(after: session, address: address)
        if case .commands = next { resumeReading() }
        return next
    }

    /// Reads again once the runner has taken what paused reading.
    private func resumeReading() {
        guard readPaused else { return }
        readPaused = false
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    // MARK: Attaching to the chat

    /// Connects the upgraded connection to the chat (on the event loop, once the chat has
    /// registered it). A connection that closed meanwhile is handed straight back.
    func attach(_ connection: ChatService.Connection) {
        guard let context, link.attach(connection, to: self, on: context.eventLoop, counting: endpoint.webSocketMetrics)
        else {
            connection.outgoing.detach()
            let endpoint = self.endpoint
            let address = self.address
            let id = connection.session.connectionID
            Task { await endpoint.disconnect(id, address: address) }
            return
        }
        endpoint.logger.debug(
            "WebSocket connection opened",
            metadata: ["parley.connection": "\(connection.session.connectionID)"]
        )
        startRunner()
    }

    /// The chat could not take the connection (full, or shutting down): close with `reason`.
    func refuse(_ reason: CloseReason) {
        sendClose(reason, thenDrop: false)
    }

    private func connectionEnded() {
        guard let attachment = link.channelEnded(counting: endpoint.webSocketMetrics) else { return }
        endpoint.logger.debug("WebSocket connection closed", metadata: ["parley.connection": "\(attachment.id)"])
        let endpoint = self.endpoint
        let address = self.address
        Task { await endpoint.disconnect(attachment.id, address: address) }
    }

    // MARK: Writing

    /// Writes everything the outbox holds, then flushes once.
    func writeOutbox() {
        guard
            link.drainOutbox(
                discard: context == nil || closeSent,
                write: { outgoing, frames, payloadBytes in
                    guard let context else { return }
                    var buffer = context.channel.allocator.buffer(capacity: payloadBytes + 10 * frames.count)
                    for frame in frames { Self.appendFrame(opcode: 0x1, payload: frame, to: &buffer) }
                    let promise = context.eventLoop.makePromise(of: Void.self)
                    promise.futureResult.whenComplete { _ in outgoing.wrote(payloadBytes) }
                    context.write(wrapOutboundOut(buffer), promise: promise)
                }
            )
        else { return }
        context?.flush()
    }

    func outboxEnded(_ end: Outbox.End) {
        switch end {
        case .close(let reason): sendClose(reason, thenDrop: input == .ignored)
        case .overflow: sendClose(endpoint.slowConsumerClosing(), thenDrop: input == .ignored)
        }
    }

    /// Sends a close frame. The client then has ``WebSocketEndpoint/closeTimeout`` to answer
    /// with its own before the connection is dropped (closing while its frames still arrive
    /// would make the kernel reset the connection, and the client could lose the close frame);
    /// with `thenDrop` it is dropped as soon as the frame is out.
    private func sendClose(_ reason: CloseReason, thenDrop: Bool) {
        guard !closeSent, let context else { return }
        closeSent = true
        closeDeadline = .now() + endpoint.closeTimeout
        var payload = context.channel.allocator.buffer(capacity: 2 + reason.reason.utf8.count)
        payload.writeInteger(reason.code)
        payload.writeString(reason.reason)
        let written = context.eventLoop.makePromise(of: Void.self)
        write(opcode: 0x8, payload: payload, promise: written)
        if thenDrop {
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    private func write(opcode: UInt8, payload: ByteBuffer, promise: EventLoopPromise<Void>? = nil) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: payload.readableBytes + 10)
        Self.appendFrame(opcode: opcode, payload: payload, to: &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: promise)
    }

    /// Appends `payload` as one unmasked, final frame (a server never masks).
    static func appendFrame(opcode: UInt8, payload: ByteBuffer, to buffer: inout ByteBuffer) {
        buffer.writeInteger(0x80 | opcode)
        let length = payload.readableBytes
        if length < 126 {
            buffer.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
        buffer.writeImmutableBuffer(payload)
    }

    // MARK: Timers

    /// Called by the event loop's sweep: pings a quiet client, drops one that did not answer
    /// the ping or the close in time.
    func sweep(now: NIODeadline) {
        guard let context else { return }
        if let closeDeadline {
            if now >= closeDeadline { context.close(promise: nil) }
            return
        }
        let interval = endpoint.pingInterval
        if let pingSentAt {
            if now - pingSentAt >= interval {
                endpoint.logger.debug("Closing a connection that did not answer a ping")
                sendClose(CloseReason(code: 1001, reason: "ping timeout"), thenDrop: true)
            }
        } else if now - lastHeard >= interval {
            pingSentAt = now
            write(opcode: 0x9, payload: ByteBuffer())
        }
    }
}
