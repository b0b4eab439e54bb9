import NIOCore
import ParleyChat

/// Writes already-encoded WebSocket frames straight to a connection's socket, many per write.
///
/// swift-websocket's writer takes one frame per call and flushes each: one system call per frame,
/// which made `writev` the largest single cost of fan-out. The sink sits at the socket end of the
/// pipeline, below the WebSocket frame encoder, and writes every frame waiting in the
/// connection's outbox as one buffer with one flush, from the event loop; control frames (ping,
/// pong, close) still go through the library's writer. Both write whole frames on the channel's
/// event loop, so they never interleave inside a frame.
final class FrameSink: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// A sink installed on a channel, usable from any task.
    struct Handle: Sendable {
        let channel: any Channel
        private let sink: NIOLoopBound<FrameSink>

        /// Adds a sink at the socket end of `channel`'s pipeline.
        static func install(on channel: any Channel) async throws -> Handle {
            try await channel.eventLoop.submit {
                let sink = FrameSink()
                try channel.pipeline.syncOperations.addHandler(sink, position: .first)
                return Handle(channel: channel, sink: NIOLoopBound(sink, eventLoop: channel.eventLoop))
            }.get()
        }

        private init(channel: any Channel, sink: NIOLoopBound<FrameSink>) {
            self.channel = channel
            self.sink = sink
        }

        /// Makes the outbox push its frames to this sink: whenever frames are waiting, the
        /// channel's event loop takes them all and writes them with one flush. Nothing waits
        /// for the write; its bytes count against the outbox's limit until the socket took them.
        /// `end` gets the outbox's close (or overflow) once the frames before it are written.
        func pump(_ outgoing: Outbox.Drain, end: @escaping @Sendable (Outbox.End) -> Void) {
            let sink = self.sink
            let eventLoop = channel.eventLoop
            outgoing.push(
                to: { eventLoop.execute { sink.value.writeAll(outgoing) } },
                end: end
            )
        }
    }

    /// On the event loop: writes everything the outbox holds, then flushes once.
    private func writeAll(_ outgoing: Outbox.Drain) {
        var wrote = false
        while let frames = outgoing.takeFrames() {
            var payloadBytes = 0
            for frame in frames { payloadBytes += frame.readableBytes }
            guard let context else {
                outgoing.wrote(payloadBytes)  // closed: nobody will read them
                continue
            }
            var buffer = context.channel.allocator.buffer(capacity: payloadBytes + 10 * frames.count)
            for frame in frames { Self.appendTextFrame(frame, to: &buffer) }
            let promise = context.eventLoop.makePromise(of: Void.self)
            let bytes = payloadBytes
            promise.futureResult.whenComplete { _ in outgoing.wrote(bytes) }
            context.write(NIOAny(buffer), promise: promise)
            wrote = true
        }
        if wrote { context?.flush() }
    }

    /// Appends `payload` as one unmasked text frame (a server never masks).
    static func appendTextFrame(_ payload: ByteBuffer, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0x81))  // FIN + text
        let length = payload.readableBytes
        if length < 126 {
            buffer.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
        buffer.writeImmutableBuffer(payload)
    }
}
