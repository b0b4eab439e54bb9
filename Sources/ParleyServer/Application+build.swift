import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ParleyChat
import ParleyCluster
import Prometheus

/// The request context of Parley's HTTP routes: Hummingbird's, plus the connection's channel
/// (for its peer address and its request deadline).
struct ParleyRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    var remoteAddress: SocketAddress? { channel.remoteAddress }

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Builds the Hummingbird application: the page and JSON API on HTTP, the chat on `/ws` and on
/// the HTTP transport (`/events`).
///
/// The WebSocket connections' sweeps run as a service of the application, so they start before
/// it listens and stop after its connections have closed.
///
/// - Parameters:
///   - onConnection: called with every accepted connection's channel (see ``ParleyServer``).
///   - onServerRunning: called with the bound port once the server listens.
func buildApplication(
    _ configuration: ServerConfiguration,
    chat: ChatService,
    files: StaticFiles,
    metrics: PrometheusCollectorRegistry,
    databaseStatus: DatabaseStatus? = nil,
    logger: Logger,
    onConnection: (@Sendable (any Channel) -> Void)? = nil,
    onServerRunning: @escaping @Sendable (Int) async -> Void
) -> some ApplicationProtocol {
    let router = Router(context: ParleyRequestContext.self)
    router.addMiddleware {
        RequestDeadlineMiddleware()
        SecurityHeadersMiddleware()
        StaticFileMiddleware(files: files)
    }
    APIRoutes(chat: chat, databaseStatus: databaseStatus).register(on: router)
    router.get("/metrics") { _, _ in
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer()))
        )
    }
    let admission = ConnectionAdmission(limits: configuration.admission, logger: logger)
    let eventLoopGroup = MultiThreadedEventLoopGroup.singleton
    let webSocket = WebSocketEndpoint(
        chat: chat,
        admission: admission,
        limits: MessageAssembler.Limits(maxMessageBytes: configuration.maxMessageBytes),
        pingInterval: TimeAmount(configuration.pingInterval),
        closeTimeout: .seconds(4),
        group: eventLoopGroup,
        metrics: metrics,
        logger: logger
    )
    EventStreamRoutes(endpoint: webSocket).register(on: router)
    let echoEndpoint = configuration.echoEndpoint
    let webSocketEnabled = configuration.webSocketEnabled
    let decide: UpgradeChannel.Decide = { request, channel, _ in
        let peer = channel.remoteAddress?.ipAddress
        switch request.path?.split(separator: "?", maxSplits: 1).first {
        case "/ws" where !webSocketEnabled:
            return .refuse(
                Refusal(
                    status: .forbidden,
                    reason: "This server takes no WebSocket; use the HTTP transport at /events."
                )
            )
        case "/ws":
            if let refusal = await admission.refusal(for: request, peer: peer) { return .refuse(refusal) }
            return .upgrade(.chat(address: admission.address(of: request, peer: peer)))
        case "/echo" where echoEndpoint:
            return .upgrade(.echo)
        default:
            return .refuse(
                Refusal(status: .notFound, reason: "There is no WebSocket at \(request.path ?? "that path").")
            )
        }
    }
    let deadline = TimeAmount(configuration.requestTimeout)
    return Application(
        router: router,
        server: HTTPServerBuilder { responder in
            UpgradeChannel(
                responder: responder,
                configuration: .init(idleTimeout: deadline),
                endpoint: webSocket,
                requestDeadline: deadline,
                decide: decide,
                onConnection: onConnection
            )
        },
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "Parley"
        ),
        services: [webSocket.sweeper],
        onServerRunning: { channel in
            await onServerRunning(channel.localAddress?.port ?? configuration.port)
        },
        eventLoopGroupProvider: .shared(eventLoopGroup),
        logger: logger
    )
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
