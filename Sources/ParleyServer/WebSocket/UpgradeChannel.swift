import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// What the server answers a WebSocket upgrade request with.
enum UpgradeDecision: Sendable {
    /// Switch protocols and serve this role on the connection.
    case upgrade(WebSocketConnection.Role)
    /// Answer with this status and sentence, and close.
    case refuse(Refusal)
}

/// Every connection the server accepts: HTTP/1.1 requests go to the Hummingbird router; an
/// upgrade request is checked against RFC 6455 (version 13, a key of 16 bytes), then asked of
/// `decide` (path, origin, limits), and either switched to WebSocket or refused with a status
/// that says why.
///
/// hummingbird-websocket's `HTTP1WebSocketUpgradeChannel` runs each WebSocket session inside the
/// connection's task, which then lives as long as the connection and keeps 20-30 KB of
/// task-allocator memory per idle connection; it also redirects a request with a version other
/// than 13 instead of answering 426, and answers every refusal with a bare 400. This channel
/// reuses NIO's HTTP upgrader and Hummingbird's HTTP handling, and hands an upgraded connection
/// to one ``WebSocketConnection`` handler: its `handle(value:)` returns once the connection is
/// attached to the chat, and the connection goes on with no task of its own.
struct UpgradeChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Decide = @Sendable (HTTPRequest, any Channel, Logger) async -> UpgradeDecision

    /// What the connection turned out to be once its first request was read.
    enum Outcome: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, Refusal)
        case webSocket(NIOLoopBound<WebSocketConnection>, WebSocketConnection.Role)
        /// A `GET` of ``EventStreamConnection/path``: the HTTP transport's event stream.
        case eventStream(NIOLoopBound<EventStreamConnection>, HTTPRequestHead)
    }

    struct Value: ServerChildChannelValue {
        let outcome: EventLoopFuture<Outcome>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let configuration: HTTP1Channel.Configuration
    let endpoint: WebSocketEndpoint
    /// How long the first request may take to arrive in full.
    let requestDeadline: TimeAmount
    let decide: Decide
    /// Told of every accepted channel (diagnostics).
    let onConnection: (@Sendable (any Channel) -> Void)?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        onConnection?(channel)
        return channel.eventLoop.makeCompletedFuture {
            // Small reads: a WebSocket keeps its channel's receive buffer for its whole life.
            try channel.syncOptions?.setOption(
                ChannelOptions.recvAllocator,
                value: FixedSizeRecvByteBufferAllocator(capacity: Self.receiveBufferBytes)
            )
            let operations = channel.pipeline.syncOperations
            try operations.addHandler(
                RequestDeadlineHandler(deadline: requestDeadline),
                name: RequestDeadlineHandler.name,
                position: .first
            )
            // Set by the upgrader on the event loop; read there when the outcome is built.
            let decision = NIOLoopBoundBox<UpgradeDecision?>(nil, eventLoop: channel.eventLoop)
            // The first request's head, seen before the upgrade handler buffers it, so that the
            // not-upgrading path can tell an event stream from a plain request.
            let firstHead = NIOLoopBoundBox<HTTPRequestHead?>(nil, eventLoop: channel.eventLoop)
            let upgrader = HandshakeCheckingUpgrader(
                base: NIOTypedWebSocketServerUpgrader<Outcome>(
                    maxFrameSize: endpoint.limits.maxMessageBytes,
                    shouldUpgrade: { channel, head in
                        let promise = channel.eventLoop.makePromise(of: UpgradeDecision.self)
                        promise.completeWithTask {
                            guard let request = try? HTTPRequest(head, secure: false, splitCookie: false) else {
                                return .refuse(Refusal(status: .badRequest, reason: "Malformed upgrade request."))
                            }
                            return await decide(request, channel, logger)
                        }
                        return promise.futureResult.map { decided in
                            decision.value = decided
                            if case .upgrade = decided { return HTTPHeaders() }
                            return nil
                        }
                    },
                    // Never called: the upgrade below installs Parley's own handler.
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeFailedFuture(ChannelError.inappropriateOperationForState)
                    }
                ),
                endpoint: endpoint,
                decision: decision
            )
            let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration<Outcome>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let operations = channel.pipeline.syncOperations
                        if let head = firstHead.value, EventStreamConnection.isStreamRequest(head) {
                            // Served by one handler, like a WebSocket, not by the router's task.
                            let stream = EventStreamConnection(endpoint: endpoint)
                            try operations.addHandler(stream)
                            return .eventStream(NIOLoopBound(stream, eventLoop: channel.eventLoop), head)
                        }
                        let idleHandler = HTTPConnectionStateHandler(
                            idleTimeout: configuration.idleTimeout.map { .init($0) },
                            logger: logger
                        )
                        try operations.addHandler(EventStreamHandover(endpoint: endpoint, idleHandler: idleHandler))
                        try operations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try operations.addHandlers(configuration.additionalChannelHandlers())
                        try operations.addHandler(idleHandler)
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        if case .refuse(let refusal)? = decision.value { return .refused(http, refusal) }
                        return .http(http)
                    }
                }
            )
            var pipeline = NIOUpgradableHTTPServerPipelineConfiguration<Outcome>(
                upgradeConfiguration: upgradeConfiguration
            )
            pipeline.enablePipelining = false  // HTTP is pipelined by NIOAsyncChannel
            pipeline.enableErrorHandling = false  // Hummingbird handles errors
            pipeline.enableResponseHeaderValidation = false  // Swift HTTP Types validate headers
            pipeline.decoderConfiguration.maxHeaderFieldSize = configuration.httpDecoder.maxHeaderFieldSize
            pipeline.decoderConfiguration.maxHeaderListSize = configuration.httpDecoder.maxHeaderListSize
            pipeline.decoderConfiguration.maxHeaderFieldCount = configuration.httpDecoder.maxHeaderFieldCount
            let outcome = try operations.configureUpgradableHTTPServerPipeline(configuration: pipeline)
            let upgradeHandler = try operations.handler(type: NIOTypedHTTPServerUpgradeHandler<Outcome>.self)
            try operations.addHandler(FirstRequestHead(box: firstHead), position: .before(upgradeHandler))
            return Value(outcome: outcome, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.outcome.get() {
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http, let refusal):
                logger.notice("Refused a WebSocket upgrade: \(refusal.reason)")
                try await refusal.respond(on: http)
            case .eventStream(let stream, let head):
                guard let request = try? HTTPRequest(head, secure: false, splitCookie: false) else {
                    stream.eventLoop.execute {
                        stream.value.refuse(Refusal(status: .badRequest, reason: "Malformed request."))
                    }
                    return
                }
                // As for a WebSocket, this task ends here: the stream goes on in its handler.
                await endpoint.openStream(stream, request: request, peer: value.channel.remoteAddress?.ipAddress)
            case .webSocket(let connection, let role):
                // The connection goes on in its handler; this task ends here, so none is kept
                // per idle connection (Hummingbird leaves a channel open when `handle` returns).
                await endpoint.open(connection, role: role)
            }
        } catch let error as ChannelError where error == .inputClosed {
            logger.trace("The connection closed before its first request was complete")
        } catch {
            logger.debug("Connection ended with an error: \(error)")
        }
    }

    /// The receive buffer of every connection: WebSocket commands are small, and a buffer is
    /// kept per connection for its life.
    static let receiveBufferBytes = 256
}

/// NIO's WebSocket upgrader, after the checks of RFC 6455 §4.2.1 that it leaves out or answers
/// in a way a client cannot act on: a version other than 13 gets 426 with the version the
/// server speaks (§4.4), a missing or malformed `Sec-WebSocket-Key` gets 400.
private struct HandshakeCheckingUpgrader: NIOTypedHTTPServerProtocolUpgrader {
    typealias UpgradeResult = UpgradeChannel.Outcome

    let base: NIOTypedWebSocketServerUpgrader<UpgradeChannel.Outcome>
    let endpoint: WebSocketEndpoint
    let decision: NIOLoopBoundBox<UpgradeDecision?>

    var supportedProtocol: String { base.supportedProtocol }
    /// None: NIO would skip an upgrader whose headers are missing and treat the request as
    /// plain HTTP; this one answers it.
    var requiredUpgradeHeaders: [String] { [] }

    func buildUpgradeResponse(
        channel: any Channel,
        upgradeRequest: HTTPRequestHead,
        initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        if let refusal = Self.handshakeRefusal(upgradeRequest.headers) {
            decision.value = .refuse(refusal)
            return channel.eventLoop.makeFailedFuture(NIOWebSocketUpgradeError.invalidUpgradeHeader)
        }
        return base.buildUpgradeResponse(
            channel: channel,
            upgradeRequest: upgradeRequest,
            initialResponseHeaders: initialResponseHeaders
        )
    }

    /// Replaces the HTTP handlers (already removed) with one ``WebSocketConnection``, instead of
    /// NIO's frame codec: one handler per connection, and frame rules checked by Parley.
    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<UpgradeChannel.Outcome> {
        channel.eventLoop.makeCompletedFuture {
            guard case .upgrade(let role)? = decision.value else {
                throw ChannelError.inappropriateOperationForState
            }
            let operations = channel.pipeline.syncOperations
            // The request is complete: its deadline no longer applies.
            if let deadline = try? operations.handler(type: RequestDeadlineHandler.self) {
                _ = operations.removeHandler(deadline)
            }
            let connection = WebSocketConnection(endpoint: endpoint, role: role)
            try operations.addHandler(connection)
            return .webSocket(NIOLoopBound(connection, eventLoop: channel.eventLoop), role)
        }
    }

    /// Why the handshake headers are not those of RFC 6455, if they are not.
    static func handshakeRefusal(_ headers: HTTPHeaders) -> Refusal? {
        let versions = headers["Sec-WebSocket-Version"]
        guard versions == ["13"] else {
            var refusal = Refusal(
                status: .upgradeRequired,
                reason: "This server speaks WebSocket version 13 (RFC 6455) only."
            )
            refusal.headers[.secWebSocketVersion] = "13"
            return refusal
        }
        let keys = headers["Sec-WebSocket-Key"]
        guard keys.count == 1, let key = keys.first, WebSocketKey.isValid(key) else {
            return Refusal(
                status: .badRequest,
                reason: "Sec-WebSocket-Key must be 16 random bytes in base64 (RFC 6455 §4.1)."
            )
        }
        return nil
    }
}

/// The `Sec-WebSocket-Key` rule: the base64 encoding of 16 bytes, which is 22 characters of the
/// base64 alphabet followed by `==`.
enum WebSocketKey {
    static func isValid(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard bytes.count == 24, bytes[22] == UInt8(ascii: "="), bytes[23] == UInt8(ascii: "=") else { return false }
        return bytes[..<22].allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                true
            default: false
            }
        }
    }
}

/// Notes the head of a connection's first request for ``UpgradeChannel``, then leaves the
/// pipeline.
private final class FirstRequestHead: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let box: NIOLoopBoundBox<HTTPRequestHead?>

    init(box: NIOLoopBoundBox<HTTPRequestHead?>) { self.box = box }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            box.value = head
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireChannelRead(data)
    }
}
