import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import ParleyChat

/// Connects one WebSocket to the chat: its reader turns frames into messages for the
/// connection's ``ChatSession``, its writer drains the connection's outbox into the socket.
/// Only these two tasks touch the socket.
struct WebSocketTransport: Sendable {
    let chat: ChatService
    let limits: MessageAssembler.Limits

    func handle(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        channel: any Channel,
        logger: Logger
    ) async {
        guard let sink = try? await FrameSink.Handle.install(on: channel) else { return }
        guard let connection = await chat.connect() else {
            try? await outbound.close(.goingAway, reason: CloseReason.goingAway.reason)
            return
        }
        let id = connection.session.connectionID
        let metrics = chat.metrics
        sink.pump(connection.outgoing) { end in
            // Rare (shutdown, a slow consumer, a limit): a task of its own for the close frame.
            Task {
                await Self.close(after: end, outbound: outbound, channel: channel, metrics: metrics, logger: logger)
            }
        }
        logger.debug("WebSocket connection opened", metadata: ["parley.connection": "\(id)"])
        // The connection lives as long as its reader: the client closes or breaks a rule, or the
        // server's close handshake ends (or times out and drops the connection).
        var session = connection.session
        await read(inbound, session: &session, logger: logger)
        // The outbox may outlive the connection (a member held for a session's grace period);
        // the pump and the close handler hold this channel, so they go now.
        connection.outgoing.detach()
        await chat.disconnect(id)
        logger.debug("WebSocket connection closed", metadata: ["parley.connection": "\(id)"])
    }

    /// Reads until the client's close frame (or the connection breaks). After a frame rule is
    /// broken, the rest is read and ignored: the close goes out once the commands accepted
    /// before have been answered, and the client's close frame ends the loop.
    private func read(_ inbound: WebSocketInboundStream, session: inout ChatSession, logger: Logger) async {
        var assembler = MessageAssembler(limits: limits)
        var frames = inbound.makeAsyncIterator()
        var broken = false
        do {
            while let frame = try await frames.next() {
                if broken { continue }
                switch assembler.add(frame) {
                case .incomplete, .binary:  // no binary with Parley's limits: they refuse it
                    continue
                case .text(let text):
                    await session.handle(text)
                case .violation(let code, let reason):
                    logger.debug("Closing a connection that broke a frame rule: \(reason)")
                    session.close(CloseReason(code: UInt16(webSocketErrorCode: code), reason: reason))
                    broken = true
                }
            }
        } catch {
            logger.debug("WebSocket read ended: \(error)")
        }
    }

    /// How long a close frame may take to get out to a client that does not read before the
    /// connection is dropped without one.
    static let closeWriteTimeout: Duration = .seconds(2)

    /// Closes the connection as the outbox asked: with a close frame if it can reach the client
    /// within ``closeWriteTimeout``; then the client has as long again to answer with its own
    /// (closing the socket while its frames still arrive makes the kernel reset the connection,
    /// and the client can lose the close frame already on its way). After that the connection
    /// is dropped.
    private static func close(
        after end: Outbox.End,
        outbound: WebSocketOutboundWriter,
        channel: any Channel,
        metrics: ChatMetrics,
        logger: Logger
    ) async {
        let reason: CloseReason
        switch end {
        case .close(let given):
            reason = given
        case .overflow:
            reason = .slowConsumer
            logger.notice("Closing a slow consumer: more than its outbound limit is waiting for it")
            metrics.slowConsumerClosed()
        }
        await close(outbound, reason, logger: logger)
        try? await Task.sleep(for: closeWriteTimeout)
        channel.close(promise: nil)
    }

    /// Sends a close frame, unless the client is so far behind that it cannot even take that
    /// within ``closeWriteTimeout``: then the handler returns and the connection is dropped.
    private static func close(_ outbound: WebSocketOutboundWriter, _ reason: CloseReason, logger: Logger) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await outbound.close(WebSocketErrorCode(codeNumber: Int(reason.code)), reason: reason.reason)
            }
            group.addTask { try? await Task.sleep(for: closeWriteTimeout) }
            await group.next()
            group.cancelAll()
        }
    }

    /// The conformance endpoint (`--echo-endpoint`): echoes every message, through the same
    /// assembler and WebSocket configuration as `/ws`, so the Autobahn test suite checks the
    /// frame handling the chat relies on.
    func echo(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async {
        var limits = self.limits
        limits.acceptsBinary = true
        var assembler = MessageAssembler(limits: limits)
        do {
            for try await frame in inbound {
                switch assembler.add(frame) {
                case .incomplete:
                    continue
                case .text(let text):
                    try await outbound.write(.text(text))
                case .binary(let bytes):
                    try await outbound.write(.binary(bytes))
                case .violation(let code, let reason):
                    try await outbound.close(code, reason: reason)
                    return
                }
            }
        } catch {
            logger.debug("Echo connection ended: \(error)")
        }
    }
}
