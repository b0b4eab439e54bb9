import HTTPTypes
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
@_spi(WSInternal) import WSCore

/// Runs one upgraded WebSocket connection until it ends.
typealias WebSocketSessionHandler =
    @Sendable (WebSocketInboundStream, WebSocketOutboundWriter, any Channel, Logger) async -> Void

/// What the server answers a WebSocket upgrade request with.
enum UpgradeDecision: Sendable {
    /// Switch protocols and run this handler on the connection.
    case upgrade(WebSocketSessionHandler)
    /// Answer with this status and sentence, and close.
    case refuse(Refusal)
}

/// Every connection the server accepts: HTTP/1.1 requests go to the Hummingbird router; an
/// upgrade request is checked against RFC 6455 (version 13, a key of 16 bytes), then asked of
/// `decide` (path, origin, limits), and either switched to WebSocket or refused with a status
/// that says why.
///
/// hummingbird-websocket's `HTTP1WebSocketUpgradeChannel` does most of this, but its router
/// keeps each upgraded connection's request context in a box that the context itself holds (a
/// reference cycle, so every WebSocket connection's channel outlived it); it redirects a request
/// with a version other than 13 instead of answering 426; it answers every refusal with a bare
/// 400; and it offers no point at which to check, before any frame is read, that the client
/// masks its frames. This channel reuses its parts (NIO's upgrader, swift-websocket's frame
/// handling, Hummingbird's HTTP handling) and adds those.
struct UpgradeChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Decide = @Sendable (HTTPRequest, any Channel, Logger) async -> UpgradeDecision

    /// What the connection turned out to be once its first request was read.
    enum Outcome: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, Refusal)
        case webSocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, WebSocketSessionHandler)
    }

    struct Value: ServerChildChannelValue {
        let outcome: EventLoopFuture<Outcome>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let configuration: HTTP1WebSocketUpgradeChannel.Configuration
    /// How long the first request may take to arrive in full.
    let requestDeadline: TimeAmount
    let decide: Decide
    /// Told of every accepted channel (diagnostics).
    let onConnection: (@Sendable (any Channel) -> Void)?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        onConnection?(channel)
        return channel.eventLoop.makeCompletedFuture {
            let operations = channel.pipeline.syncOperations
            try operations.addHandler(
                RequestDeadlineHandler(deadline: requestDeadline),
                name: RequestDeadlineHandler.name,
                position: .first
            )
            // Set by the upgrader on the event loop; read there when the outcome is built.
            let decision = NIOLoopBoundBox<UpgradeDecision?>(nil, eventLoop: channel.eventLoop)
            let upgrader = HandshakeCheckingUpgrader(
                base: NIOTypedWebSocketServerUpgrader<Outcome>(
                    maxFrameSize: configuration.ws.maxFrameSize,
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
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            guard case .upgrade(let handler)? = decision.value else {
                                throw ChannelError.inappropriateOperationForState
                            }
                            let operations = channel.pipeline.syncOperations
                            // The request is complete: its deadline no longer applies.
                            if let deadline = try? operations.handler(type: RequestDeadlineHandler.self) {
                                _ = operations.removeHandler(deadline)
                            }
                            // Added synchronously, so no frame is read before the check is in place.
                            let decoder = try operations.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
                            try operations.addHandler(UnmaskedFrameGuard(), position: .after(decoder))
                            let webSocket = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                                wrappingChannelSynchronously: channel,
                                configuration: .init(isOutboundHalfClosureEnabled: true)
                            )
                            return .webSocket(webSocket, handler)
                        }
                    }
                ),
                decision: decision
            )
            let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration<Outcome>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let operations = channel.pipeline.syncOperations
                        try operations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try operations.addHandlers(configuration.http1.additionalChannelHandlers())
                        try operations.addHandler(
                            HTTPConnectionStateHandler(
                                idleTimeout: configuration.http1.idleTimeout.map { .init($0) },
                                logger: logger
                            )
                        )
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
            pipeline.decoderConfiguration.maxHeaderFieldSize = configuration.http1.httpDecoder.maxHeaderFieldSize
            pipeline.decoderConfiguration.maxHeaderListSize = configuration.http1.httpDecoder.maxHeaderListSize
            pipeline.decoderConfiguration.maxHeaderFieldCount = configuration.http1.httpDecoder.maxHeaderFieldCount
            let outcome = try operations.configureUpgradableHTTPServerPipeline(configuration: pipeline)
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
            case .webSocket(let webSocket, let handler):
                let channel = value.channel
                _ = try await WebSocketHandler.handle(
                    type: .server,
                    configuration: .init(
                        extensions: [],
                        autoPing: configuration.ws.autoPing,
                        closeTimeout: configuration.ws.closeTimeout,
                        validateUTF8: configuration.ws.validateUTF8,
                        maxFrameSize: configuration.ws.maxFrameSize
                    ),
                    asyncChannel: webSocket,
                    context: SessionContext(logger: logger),
                    handler: { inbound, outbound, context in
                        await handler(inbound, outbound, channel, context.logger)
                    }
                )
            }
        } catch let error as ChannelError where error == .inputClosed {
            logger.trace("The connection closed before its first request was complete")
        } catch {
            logger.debug("Connection ended with an error: \(error)")
        }
    }

    private struct SessionContext: WebSocketContext {
        let logger: Logger
    }
}

/// NIO's WebSocket upgrader, after the checks of RFC 6455 §4.2.1 that it leaves out or answers
/// in a way a client cannot act on: a version other than 13 gets 426 with the version the
/// server speaks (§4.4), a missing or malformed `Sec-WebSocket-Key` gets 400.
private struct HandshakeCheckingUpgrader: NIOTypedHTTPServerProtocolUpgrader {
    typealias UpgradeResult = UpgradeChannel.Outcome

    let base: NIOTypedWebSocketServerUpgrader<UpgradeChannel.Outcome>
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

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<UpgradeChannel.Outcome> {
        base.upgrade(channel: channel, upgradeRequest: upgradeRequest)
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
