import HTTPTypes
import HummingbirdCore
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Watches the requests of a plain HTTP connection for a `GET /events`, and turns the
/// connection into an event stream there and then.
///
/// A browser opens its `EventSource` on whichever idle keep-alive connection it has, usually
/// one that has already served the page's files, so the stream's request is often not a
/// connection's first. When the connection is idle (every earlier request answered), the
/// stream's handler takes the connection over: the router sees no more requests, and the HTTP
/// idle timeout, which would close the stream, is removed. The router's task for the connection
/// then waits until the client leaves; a stream opened on a fresh connection has no such task
/// (docs/PERFORMANCE.md has what each costs).
final class EventStreamHandover: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoint: WebSocketEndpoint
    private let idleHandler: HTTPConnectionStateHandler
    /// Requests passed to the router whose responses have not ended.
    private var unanswered = 0

    init(endpoint: WebSocketEndpoint, idleHandler: HTTPConnectionStateHandler) {
        self.endpoint = endpoint
        self.idleHandler = idleHandler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        guard unanswered == 0, EventStreamConnection.isStreamRequest(head) else {
            unanswered += 1
            context.fireChannelRead(data)
            return
        }
        let operations = context.pipeline.syncOperations
        let stream = EventStreamConnection(endpoint: endpoint)
        do {
            try operations.addHandler(stream, position: .after(self))
        } catch {
            context.close(promise: nil)
            return
        }
        operations.removeHandler(idleHandler, promise: nil)
        operations.removeHandler(context: context, promise: nil)
        let connection = NIOLoopBound(stream, eventLoop: context.eventLoop)
        let peer = context.channel.remoteAddress?.ipAddress
        let endpoint = self.endpoint
        guard let request = try? HTTPRequest(head, secure: false, splitCookie: false) else {
            stream.refuse(Refusal(status: .badRequest, reason: "Malformed request."))
            return
        }
        Task { await endpoint.openStream(connection, request: request, peer: peer) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { unanswered = max(0, unanswered - 1) }
        context.write(data, promise: promise)
    }
}
