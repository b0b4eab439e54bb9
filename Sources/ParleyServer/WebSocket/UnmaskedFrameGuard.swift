import NIOCore
import NIOWebSocket

/// Fails the connection on a frame the client did not mask: RFC 6455 §5.1 requires a server to
/// close with 1002 (protocol error) when it receives one. Sits right after the frame decoder, so
/// no unmasked frame, data or control, reaches anything else.
final class UnmaskedFrameGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var failed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let frame = unwrapInboundIn(data)
        guard frame.maskKey != nil else {
            failed = true
            let reason = "client frames must be masked"
            var payload = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
            payload.write(webSocketErrorCode: .protocolError)
            payload.writeString(reason)
            let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(close)).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        context.fireChannelRead(data)
    }
}
