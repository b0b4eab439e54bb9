import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import ParleyChat
import Prometheus

/// The request context of Parley's HTTP and WebSocket routes: Hummingbird's, plus the peer's
/// address (for per-address limits).
struct ParleyRequestContext: RequestContext, WebSocketRequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    let channel: any Channel

    var remoteAddress: SocketAddress? { channel.remoteAddress }

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
    }
}

/// Builds the Hummingbird application: the page and JSON API on HTTP, the chat on `/ws`.
///
/// - Parameters:
///   - onServerRunning: called with the bound port once the server listens.
func buildApplication(
    _ configuration: ServerConfiguration,
    chat: ChatService,
    files: StaticFiles,
    metrics: PrometheusCollectorRegistry,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void
) -> some ApplicationProtocol {
    let router = Router(context: ParleyRequestContext.self)
    router.addMiddleware {
        RequestDeadlineMiddleware()
        SecurityHeadersMiddleware()
        StaticFileMiddleware(files: files)
    }
    APIRoutes(chat: chat).register(on: router)
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
    let admission = ConnectionAdmission(limits: configuration.admission)
    let webSocketRouter = Router(context: ParleyRequestContext.self)
    webSocketRouter.ws("/ws") { request, context in
        if let refusal = await admission.refusal(for: request, context: context) {
            context.logger.notice("Refused a WebSocket upgrade: \(refusal.reason)")
            // hummingbird-websocket answers every refused upgrade with a fixed 400; the client
            // should learn why (403, 429 with Retry-After, 503), so that answer is written first.
            try await refusal.respond(on: context.channel)
            return .dontUpgrade
        }
        return .upgrade([:])
    } onUpgrade: { inbound, outbound, context in
        await RequestDeadlineHandler.lift(on: context.requestContext.channel)
        let address = admission.address(of: context.request, context: context.requestContext)
        guard await admission.acquire(address) else {
            try? await outbound.close(.init(codeNumber: 1013), reason: "server busy; try again later")
            return
        }
        await transport.handle(
            inbound: inbound,
            outbound: outbound,
            channel: context.requestContext.channel,
            logger: context.logger
        )
        await admission.release(address)
    }

    if configuration.echoEndpoint {
        webSocketRouter.ws("/echo") { inbound, outbound, context in
            await transport.echo(inbound: inbound, outbound: outbound, logger: context.logger)
        }
    }
    let webSocketResponder = webSocketRouter.buildResponder()
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
            DeadlineChannel(
                base: HTTP1WebSocketUpgradeChannel(
                    responder: responder,
                    webSocketResponder: webSocketResponder,
                    configuration: .init(http1: .init(idleTimeout: deadline), ws: webSocketConfiguration)
                ),
                deadline: deadline
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
