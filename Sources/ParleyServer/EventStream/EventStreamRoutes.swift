import Hummingbird
import NIOCore
import ParleyChat

/// The command side of the HTTP transport: `POST /events/<token>` carries one command, the same
/// JSON object a WebSocket frame would, for the stream that `token` names. Its reply, like every
/// event, comes on the stream; the `POST` itself answers 202 once the command is queued, or an
/// `error` object with a status saying why it was not.
struct EventStreamRoutes: Sendable {
    let endpoint: WebSocketEndpoint

    func register<Context: RequestContext & RemoteAddressRequestContext>(on router: Router<Context>) {
        router.post("\(EventStreamConnection.path)/{token}") { request, context in
            try await self.post(request, context: context)
        }
    }

    private func post<Context: RequestContext & RemoteAddressRequestContext>(
        _ request: Request,
        context: Context
    ) async throws -> Response {
        let peer = context.remoteAddress?.ipAddress
        if let refusal = await endpoint.admission.originRefusal(for: request.head, peer: peer) {
            return Self.error(refusal.status, ChatError(.badRequest, refusal.reason))
        }
        let limit = endpoint.limits.maxMessageBytes
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch {
            return Self.error(
                .contentTooLarge,
                ChatError(.tooLarge, "A command is at most \(limit) bytes, like a WebSocket message.")
            )
        }
        guard let text = String(validating: body.readableBytesView, as: UTF8.self) else {
            return Self.error(.badRequest, ChatError(.badRequest, "A command is UTF-8 text (a JSON object)."))
        }
        let token = context.parameters.get("token") ?? ""
        guard let stream = await endpoint.streams.connection(for: token) else {
            return Self.unknownStream
        }
        let outcome = try await stream.eventLoop.submit { stream.value.received(text) }.get()
        switch outcome {
        case .accepted:
            return Response(status: .accepted)
        case .busy:
            var response = Self.error(
                .tooManyRequests,
                ChatError(.rateLimited, "Too many commands are waiting for this stream; retry shortly.")
            )
            response.headers[.retryAfter] = "1"
            return response
        case .gone:
            return Self.unknownStream
        }
    }

    private static let unknownStream = error(
        .notFound,
        ChatError(.unknownStream, "No open event stream has this token; open \(EventStreamConnection.path) again.")
    )

    private static func error(_ status: HTTPResponse.Status, _ error: ChatError) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ServerEvent.error(error, ref: nil))
        )
    }
}
