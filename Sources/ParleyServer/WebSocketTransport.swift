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
        sink.pump(connection.outgoing)
        logger.debug("WebSocket connection opened", metadata: ["parley.connection": "\(id)"])
        await withTaskGroup(of: Ending.self) { group in
            group.addTask {
                await Self.write(
                    connection.outgoing,
                    to: sink,
                    outbound: outbound,
                    metrics: chat.metrics,
                    logger: logger
                )
            }
            group.addTask {
                var session = connection.session
                await self.read(inbound, outbound: outbound, session: &session, logger: logger)
                return .other
            }
            // Whichever side ends first ends the connection: the client closed or broke a rule,
            // or the server closed it (shutdown, slow consumer).
            if await group.next() == .closeSent {
                // The close handshake: keep reading until the client's close frame ends the
                // reader. Closing the socket while the client's frames are still arriving makes
                // the kernel reset the connection, and a client may then lose the close frame
                // (and its code) that was already on its way to it.
                group.addTask {
                    try? await Task.sleep(for: Self.closeWriteTimeout)
                    return .other
                }
                _ = await group.next()
            }
            group.cancelAll()
        }
        await chat.disconnect(id)
        logger.debug("WebSocket connection closed", metadata: ["parley.connection": "\(id)"])
    }

    private func read(
        _ inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        session: inout ChatSession,
        logger: Logger
    ) async {
        var assembler = MessageAssembler(limits: limits)
        var frames = inbound.makeAsyncIterator()
        do {
            while let frame = try await frames.next() {
                switch assembler.add(frame) {
                case .incomplete:
                    continue
                case .text(let text):
                    await session.handle(text)
                case .binary:
                    return  // not with Parley's limits: they refuse binary messages
                case .violation(let code, let reason):
                    logger.debug("Closing a connection that broke a frame rule: \(reason)")
                    try await outbound.close(code, reason: reason)
                    return
                }
            }
        } catch {
            logger.debug("WebSocket read ended: \(error)")
        }
    }

    /// How long a close frame may take to get out to a client that does not read before the
    /// connection is dropped without one.
    static let closeWriteTimeout: Duration = .seconds(2)

    /// How a connection's task ended.
    enum Ending {
        /// The writer sent a close frame: the client's close is to be awaited.
        case closeSent
        case other
    }

    /// Waits for the outbox's close (or overflow) and closes the connection. The frames
    /// themselves go out from the event loop (``FrameSink/Handle/pump(_:)``); a frame batch
    /// only arrives here in pull mode, which the transport does not use.
    private static func write(
        _ outgoing: Outbox.Drain,
        to sink: FrameSink.Handle,
        outbound: WebSocketOutboundWriter,
        metrics: ChatMetrics,
        logger: Logger
    ) async -> Ending {
        do {
            // `nil`: cancelled because the reader finished.
            while let batch = await outgoing.next() {
                if !batch.frames.isEmpty {
                    var payloadBytes = 0
                    for frame in batch.frames { payloadBytes += frame.readableBytes }
                    var buffer = sink.channel.allocator.buffer(capacity: payloadBytes + 10 * batch.frames.count)
                    for frame in batch.frames { FrameSink.appendTextFrame(frame, to: &buffer) }
                    try await sink.write(buffer)
                    outgoing.wrote(payloadBytes)
                }
                if let reason = batch.close {
                    await close(outbound, reason, logger: logger)
                    return .closeSent
                }
                if batch.overflowed {
                    logger.notice(
                        "Closing a slow consumer: \(outgoing.queuedBytes) bytes waiting for it, over the limit"
                    )
                    metrics.slowConsumerClosed()
                    await close(outbound, .slowConsumer, logger: logger)
                    return .closeSent
                }
            }
        } catch {
            logger.debug("WebSocket write ended: \(error)")
        }
        return .other
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
