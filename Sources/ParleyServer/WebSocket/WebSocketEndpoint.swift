import HTTPTypes
import Logging
import NIOCore
import ParleyChat
import Prometheus

/// What the long-lived connections of one server (WebSockets and event streams) share: the chat,
/// the admission limits, the frame limits and timers, the sweeps that run the timers, and the
/// directory that routes an event stream's `POST`ed commands.
final class WebSocketEndpoint: Sendable {
    let chat: ChatService
    let admission: ConnectionAdmission
    let limits: MessageAssembler.Limits
    /// How long a client may stay silent before it is pinged, and then how long it has to
    /// answer.
    let pingInterval: TimeAmount
    /// How long a client has to answer the server's close frame (and to read what is before
    /// it) before the connection is dropped.
    let closeTimeout: TimeAmount
    let sweeper: ConnectionSweeper
    let streams = EventStreamDirectory()
    let webSocketMetrics: TransportMetrics
    let eventStreamMetrics: TransportMetrics
    let logger: Logger

    init(
        chat: ChatService,
        admission: ConnectionAdmission,
        limits: MessageAssembler.Limits,
        pingInterval: TimeAmount,
        closeTimeout: TimeAmount,
        group: any EventLoopGroup,
        metrics: PrometheusCollectorRegistry,
        logger: Logger
    ) {
        self.chat = chat
        self.admission = admission
        self.limits = limits
        self.pingInterval = pingInterval
        self.closeTimeout = closeTimeout
        // A deadline is met within a quarter of the shortest timer, and at least every second.
        let tick = min(TimeAmount.seconds(1), .nanoseconds(min(pingInterval, closeTimeout).nanoseconds / 4))
        self.sweeper = ConnectionSweeper(group: group, tick: max(tick, .milliseconds(10)))
        webSocketMetrics = TransportMetrics(transport: "websocket", registry: metrics)
        eventStreamMetrics = TransportMetrics(transport: "event_stream", registry: metrics)
        self.logger = logger
    }

    /// Connects a freshly upgraded connection to its role (in the task of the upgrade, which
    /// ends with this call).
    func open(_ connection: NIOLoopBound<WebSocketConnection>, role: WebSocketConnection.Role) async {
        guard case .chat(let address) = role else { return }
        let eventLoop = connection.eventLoop
        guard await admission.acquire(address) else {
            eventLoop.execute {
                connection.value.refuse(CloseReason(code: 1013, reason: "server busy; try again later"))
            }
            return
        }
        guard let chatConnection = await chat.connect() else {
            await admission.release(address)
            eventLoop.execute { connection.value.refuse(.goingAway) }
            return
        }
        eventLoop.execute { connection.value.attach(chatConnection) }
    }

    /// Tells the chat and the admission limits that an attached connection has ended.
    func disconnect(_ id: ConnectionID, address: String) async {
        await chat.disconnect(id)
        await admission.release(address)
    }

    /// Connects a new event stream, once its request is complete: refused like a WebSocket
    /// upgrade (origin, limits), else counted, connected to the chat and given its token.
    func openStream(_ connection: NIOLoopBound<EventStreamConnection>, request: HTTPRequest, peer: String?) async {
        let eventLoop = connection.eventLoop
        if let refusal = await admission.refusal(for: request, peer: peer) {
            logger.notice("Refused an event stream: \(refusal.reason)")
            eventLoop.execute { connection.value.refuse(refusal) }
            return
        }
        let address = admission.address(of: request, peer: peer)
        guard await admission.acquire(address) else {
            eventLoop.execute {
                connection.value.refuse(
                    Refusal(status: .serviceUnavailable, reason: "The server is full; try again later.")
                )
            }
            return
        }
        guard let chatConnection = await chat.connect() else {
            await admission.release(address)
            eventLoop.execute {
                connection.value.refuse(Refusal(status: .serviceUnavailable, reason: "The server is shutting down."))
            }
            return
        }
        let token = await streams.register(connection)
        eventLoop.execute { connection.value.attach(chatConnection, token: token, address: address) }
    }

    /// Tells the chat, the admission limits and the directory that an event stream has ended.
    func disconnectStream(_ id: ConnectionID, token: String, address: String) async {
        await streams.remove(token)
        await disconnect(id, address: address)
    }

    /// Takes a closed stream's token out of the directory (its runner tells the chat).
    func forgetStream(_ token: String) async {
        await streams.remove(token)
    }
}
