import NIOCore
import ParleyChat

/// The chat's side of one connection, the same for both transports: the attachment to the chat,
/// the commands that wait for the runner, and whether the channel is still open.
///
/// A value stored inside its connection's handler and used on its event loop only. It is a
/// struct, not an object of its own, because every idle connection holds one: a separate object
/// cost about 250 bytes more per idle connection (docs/PERFORMANCE.md).
struct ChatLink {
    /// The chat's side of an attached connection.
    struct Attachment {
        let id: ConnectionID
        let outgoing: Outbox.Drain
    }

    private(set) var attachment: Attachment?
    /// The command router while no task runs it.
    private var idleSession: ChatSession?
    /// Commands received and not yet handed to the runner.
    private var waitingCommands: [String] = []
    /// The UTF-8 size of ``waitingCommands``.
    private(set) var waitingBytes = 0
    private var runnerActive = false
    private(set) var channelClosed = false

    /// Commands waiting beyond this many bytes are not taken (an event stream's `POST` is
    /// refused) or stop reading from the socket (a WebSocket) until the runner has caught up:
    /// a client cannot queue unbounded work.
    static let maxWaitingBytes = 64 * 1024

    /// Takes the chat's side of a newly admitted connection, whose outbox then pumps to
    /// `handler`, counted in `metrics`. Returns false when the channel closed meanwhile: the
    /// caller then hands the connection back (detaches its outbox and tells the endpoint).
    mutating func attach<Handler: ChatLinkHandler>(
        _ connection: ChatService.Connection,
        to handler: Handler,
        on eventLoop: any EventLoop,
        counting metrics: TransportMetrics
    ) -> Bool {
        guard !channelClosed else { return false }
        metrics.connections.increment()
        metrics.opened.increment()
        attachment = Attachment(id: connection.session.connectionID, outgoing: connection.outgoing)
        idleSession = connection.session
        let bound = NIOLoopBound(handler, eventLoop: eventLoop)
        connection.outgoing.push(
            to: { eventLoop.execute { bound.value.writeOutbox() } },
            end: { end in eventLoop.execute { bound.value.outboxEnded(end) } }
        )
        return true
    }

    /// Queues a received command for the runner.
    mutating func queue(_ text: String, counting metrics: TransportMetrics) {
        metrics.commands.increment()
        waitingCommands.append(text)
        waitingBytes += text.utf8.count
    }

    /// The waiting commands and the session to run them with, when a runner should start: some
    /// wait, none runs, and the chat is attached.
    mutating func startRunner() -> (commands: [String], session: ChatSession)? {
        guard !runnerActive, !waitingCommands.isEmpty, let session = idleSession.take() else { return nil }
        runnerActive = true
        return (takeWaitingCommands(), session)
    }

    /// What the runner does after its commands ran with `session`: more commands, stop (the
    /// session stays here for the next ones), or tell the chat that the connection closed.
    mutating func nextCommands(after session: ChatSession, address: String) -> NextCommands {
        if channelClosed, let attachment {
            runnerActive = false
            waitingCommands = []
            self.attachment = nil
            return .closed(attachment.id, address: address)
        }
        guard !waitingCommands.isEmpty else {
            runnerActive = false
            idleSession = session
            return .idle
        }
        return .commands(takeWaitingCommands())
    }

    private mutating func takeWaitingCommands() -> [String] {
        let commands = waitingCommands
        waitingCommands = []
        waitingBytes = 0
        return commands
    }

    /// The channel closed. Returns the attachment when the chat should be told now; while a
    /// runner runs, it tells the chat once its command is done.
    mutating func channelEnded(counting metrics: TransportMetrics) -> Attachment? {
        guard !channelClosed else { return nil }
        channelClosed = true
        waitingCommands = []
        guard let attachment else { return nil }
        metrics.connections.decrement()
        // The outbox may outlive the connection (a member held for a session's grace period);
        // its pump holds the handler, so it goes now.
        attachment.outgoing.detach()
        guard !runnerActive else { return nil }
        self.attachment = nil
        return attachment
    }

    /// Takes everything the outbox holds, batch by batch, and hands each to `write` with its
    /// payload size, or counts it as written at once when `discard` (nobody will read it).
    /// Returns whether anything was handed to `write`.
    func drainOutbox(
        discard: Bool,
        write: (_ outgoing: Outbox.Drain, [ByteBuffer], _ payloadBytes: Int) -> Void
    ) -> Bool {
        guard let outgoing = attachment?.outgoing else { return false }
        var wrote = false
        while let frames = outgoing.takeFrames() {
            var payloadBytes = 0
            for frame in frames { payloadBytes += frame.readableBytes }
            if discard {
                outgoing.wrote(payloadBytes)
            } else {
                write(outgoing, frames, payloadBytes)
                wrote = true
            }
        }
        return wrote
    }
}

/// A connection handler that holds a ``ChatLink``: what the link's outbox pump calls back on the
/// handler's event loop. (The pump holds the concrete handler, not an existential, which would
/// make both of its closures larger for every idle connection.)
protocol ChatLinkHandler: AnyObject, SendableMetatype {
    /// Writes what the outbox holds.
    func writeOutbox()
    /// The chat closed the connection's outbox (a close, or a consumer too slow).
    func outboxEnded(_ end: Outbox.End)
}

extension WebSocketEndpoint {
    /// Counts and logs a consumer closed for being too slow, and gives the reason to close with.
    func slowConsumerClosing() -> CloseReason {
        logger.notice("Closing a slow consumer: more than its outbound limit is waiting for it")
        chat.metrics.slowConsumerClosed()
        return .slowConsumer
    }
}
