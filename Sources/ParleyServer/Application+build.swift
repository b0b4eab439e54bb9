import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ParleyChat

/// The request context of Parley's HTTP and WebSocket routes.
typealias ParleyRequestContext = BasicWebSocketRequestContext

/// Builds the Hummingbird application: the page and JSON API on HTTP, the chat on `/ws`.
///
/// - Parameters:
///   - onServerRunning: called with the bound port once the server listens.
func buildApplication(
    _ configuration: ServerConfiguration,
    chat: ChatService,
    files: StaticFiles,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void
) -> some ApplicationProtocol {
    let router = Router(context: ParleyRequestContext.self)
    router.addMiddleware {
        SecurityHeadersMiddleware()
        StaticFileMiddleware(files: files)
    }
    APIRoutes(chat: chat).register(on: router)

    let transport = WebSocketTransport(chat: chat, limits: MessageAssembler.Limits())
    let webSocketRouter = Router(context: ParleyRequestContext.self)
    webSocketRouter.ws("/ws") { inbound, outbound, context in
        await transport.handle(inbound: inbound, outbound: outbound, logger: context.logger)
    }

    return Application(
        router: router,
        server: .http1WebSocketUpgrade(
            webSocketRouter: webSocketRouter,
            configuration: .init(
                ws: .init(
                    maxFrameSize: transport.limits.maxMessageBytes,
                    autoPing: .enabled(timePeriod: .seconds(30)),
                    closeTimeout: .seconds(5)
                )
            )
        ),
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
