import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Closes a connection whose first request (a page, an API call, or a WebSocket upgrade) has not
/// arrived in full within a deadline, so a slowloris client that trickles header bytes holds
/// nothing for long. Hummingbird's idle timer starts only once a connection is known not to be
/// a WebSocket upgrade, so the first request needs this guard of its own; ``UpgradeChannel``
/// adds it to every connection and lifts it when the upgrade completes.
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    static let name = "parley.request-deadline"

    private let deadline: TimeAmount
    private var timer: Scheduled<Void>?

    init(deadline: TimeAmount) {
        self.deadline = deadline
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: deadline) {
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    /// Called once the request was complete (the router saw it): the deadline no longer applies.
    static func lift(on channel: any Channel) async {
        try? await channel.pipeline.removeHandler(name: name).get()
    }
}

/// Lifts the request deadline once a plain HTTP request has arrived; after that Hummingbird's
/// idle timeout governs the connection.
struct RequestDeadlineMiddleware<Context: RequestContext & ChannelRequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        await RequestDeadlineHandler.lift(on: context.channel)
        return try await next(request, context)
    }
}

/// A request context that knows its connection.
protocol ChannelRequestContext {
    var channel: any Channel { get }
}

extension ParleyRequestContext: ChannelRequestContext {}
