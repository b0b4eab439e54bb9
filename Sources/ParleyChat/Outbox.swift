public import NIOCore

/// What a connection's writer sends next.
public enum OutboundItem: Sendable {
    /// One text frame, already encoded (possibly shared with other recipients).
    case text(ByteBuffer)
    /// A close frame with this code and reason; nothing follows it.
    case close(CloseReason)
}

/// Why the server closes a connection, as a WebSocket close code and reason.
public struct CloseReason: Sendable, Equatable {
    public var code: UInt16
    public var reason: String

    public init(code: UInt16, reason: String) {
        self.code = code
        self.reason = reason
    }

    /// 1001: the server is shutting down.
    public static let goingAway = CloseReason(code: 1001, reason: "server shutting down")
    /// 1008: the client did not read its messages fast enough.
    public static let slowConsumer = CloseReason(code: 1008, reason: "too slow: outbound queue full")
    /// 1008: the client kept sending commands after being told to slow down.
    public static let flooding = CloseReason(code: 1008, reason: "rate limit exceeded")
}

/// A connection's bounded outbound queue.
///
/// Anyone may put frames in without waiting (the hub, the connection's own command handling);
/// only the connection's writer takes them out, so a broadcast never waits on a slow client.
/// When the queue overflows the stream finishes early and the writer closes the connection:
/// dropping a frame silently would leave the client a gap it cannot see.
public struct Outbox: Sendable {
    private let continuation: AsyncStream<OutboundItem>.Continuation

    /// Makes an outbox holding at most `capacity` frames, and the stream its writer drains.
    public static func make(capacity: Int) -> (Outbox, AsyncStream<OutboundItem>) {
        let (stream, continuation) = AsyncStream.makeStream(
            of: OutboundItem.self,
            bufferingPolicy: .bufferingOldest(capacity)
        )
        return (Outbox(continuation: continuation), stream)
    }

    /// Queues a frame. Returns `false` when the queue was full: the outbox is then finished and
    /// the connection about to close as a slow consumer.
    @discardableResult
    public func send(_ frame: ByteBuffer) -> Bool {
        switch continuation.yield(.text(frame)) {
        case .enqueued, .terminated:
            return true
        case .dropped:
            continuation.finish()
            return false
        @unknown default:
            return true
        }
    }

    /// Queues a close frame after whatever is already queued and finishes the outbox.
    public func close(_ reason: CloseReason) {
        continuation.yield(.close(reason))
        continuation.finish()
    }
}
