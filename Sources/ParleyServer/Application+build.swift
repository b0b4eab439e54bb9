import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
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

/// Builds the Hummingbird application: the page and JSON API on HTTP, the chat on `/ws`.
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
    let transport = WebSocketTransport(
        chat: chat,
        limits: MessageAssembler.Limits(maxMessageBytes: configuration.maxMessageBytes)
    )
    let admission = ConnectionAdmission(limits: configuration.admission, logger: logger)
    let echoEndpoint = configuration.echoEndpoint
    let decide: UpgradeChannel.Decide = { request, channel, _ in
        let peer = channel.remoteAddress?.ipAddress
        switch request.path?.split(separator: "?", maxSplits: 1).first {
        case "/ws":
            if let refusal = await admission.refusal(for: request, peer: peer) { return .refuse(refusal) }
            let address = admission.address(of: request, peer: peer)
            return .upgrade { inbound, outbound, channel, logger in
                guard await admission.acquire(address) else {
                    try? await outbound.close(.init(codeNumber: 1013), reason: "server busy; try again later")
                    return
                }
                await transport.handle(inbound: inbound, outbound: outbound, channel: channel, logger: logger)
                await admission.release(address)
            }
        case "/echo" where echoEndpoint:
            return .upgrade { inbound, outbound, _, logger in
                await transport.echo(inbound: inbound, outbound: outbound, logger: logger)
            }
        default:
            return .refuse(
                Refusal(status: .notFound, reason: "There is no WebSocket at \(request.path ?? "that path").")
            )
        }
    }
    let webSocketConfiguration = WebSocketServerConfiguration(
        maxFrameSize: transport.limits.maxMessageBytes,
        autoPing: .enabled(timePeriod: configuration.pingInterval),
        closeTimeout: .seconds(5),
        // Parley validates message text itself (MessageAssembler); this makes the library check
        // the reason of a client's close frame too, answering invalid UTF-8 there with 1007.
        validateUTF8: true
    )
    let (seconds, attoseconds) = configuration.requestTimeout.components
    let deadline = TimeAmount.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    return Application(
        router: router,
        server: HTTPServerBuilder { responder in
            UpgradeChannel(
                responder: responder,
                configuration: .init(http1: .init(idleTimeout: deadline), ws: webSocketConfiguration),
                requestDeadline: deadline,
                decide: decide,
                onConnection: onConnection
            )
        },
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "Parley"
        ),
        onServerRunning: { channel in
            await onServerRunning(channel.localAddress?.port ?? configuration.port)
        },
        logger: logger
    )
}
