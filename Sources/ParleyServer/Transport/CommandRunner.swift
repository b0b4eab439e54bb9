import NIOCore
import ParleyChat

/// What a connection hands its command runner when the runner asks for more.
enum NextCommands {
    case commands([String])
    /// None wait: the runner ends, and the connection keeps the session for the next ones.
    case idle
    /// The connection closed while the runner ran: the runner tells the chat.
    case closed(ConnectionID, address: String)
}

/// Runs a connection's commands, in order, in a task that exists only while commands wait: an
/// idle connection holds no task. Shared by the WebSocket and event-stream transports.
enum CommandRunner {
    /// Starts a task that runs `first`, then asks `next` (on `eventLoop`, the connection's) for
    /// more until there are none.
    static func start(
        _ first: [String],
        session: ChatSession,
        on eventLoop: any EventLoop,
        endpoint: WebSocketEndpoint,
        next: @escaping @Sendable (ChatSession) -> NextCommands
    ) {
        Task {
            var session = session
            var batch = first
            while true {
                for text in batch { await session.handle(text) }
                let finished = session
                switch try? await eventLoop.submit({ next(finished) }).get() {
                case .commands(let commands)?:
                    batch = commands
                case .closed(let id, let address)?:
                    await endpoint.disconnect(id, address: address)
                    return
                case .idle?, nil:
                    return
                }
            }
        }
    }
}
