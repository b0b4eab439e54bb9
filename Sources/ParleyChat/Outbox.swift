public import NIOCore
import Synchronization

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
    /// 1008: the connection did not join a room in time.
    public static let noJoin = CloseReason(code: 1008, reason: "no room joined in time")
    /// 1008: the client kept sending commands after being told to slow down.
    public static let flooding = CloseReason(code: 1008, reason: "rate limit exceeded")
    /// 4001: a newer connection resumed this connection's session and took over its nick.
    public static let replaced = CloseReason(code: 4001, reason: "replaced")
}

/// A connection's outbound queue, bounded by bytes.
///
/// Anyone may put frames in without waiting (the hub, the connection's own command handling);
/// only the connection's writer takes them out, so a broadcast never waits on a slow client.
/// When the frames waiting exceed the byte limit the queue finishes early and the writer closes
/// the connection: dropping a frame silently would leave the client a gap it cannot see.
public struct Outbox: Sendable {
    private let continuation: AsyncStream<OutboundItem>.Continuation
    private let accounting: Accounting

    /// The bytes waiting, shared by the producers and the writer. An atomic counter rather than
    /// an actor: `send` is called on the fan-out path for every recipient and must not suspend.
    final class Accounting: Sendable {
        let limit: Int
        let queued = Atomic<Int>(0)

        init(limit: Int) { self.limit = limit }
    }

    /// Makes an outbox holding at most `byteLimit` bytes of frames, and the stream its writer
    /// drains (the writer reports each frame it wrote with ``Drain/wrote(_:)``).
    public static func make(byteLimit: Int) -> (Outbox, Drain) {
        let (stream, continuation) = AsyncStream.makeStream(of: OutboundItem.self)
        let accounting = Accounting(limit: byteLimit)
        return (
            Outbox(continuation: continuation, accounting: accounting), Drain(items: stream, accounting: accounting)
        )
    }

    /// The writer's side: the frames to write, and where it reports what left the queue.
    public struct Drain: Sendable {
        public let items: AsyncStream<OutboundItem>
        let accounting: Accounting

        /// A frame of `bytes` bytes was written: it no longer counts against the limit.
        public func wrote(_ bytes: Int) {
            accounting.queued.subtract(bytes, ordering: .relaxed)
        }

        /// Bytes waiting to be written.
        public var queuedBytes: Int { accounting.queued.load(ordering: .relaxed) }
    }

    /// Queues a frame. Returns `false` when the queue was full: the outbox is then finished and
    /// the connection about to close as a slow consumer.
    @discardableResult
    public func send(_ frame: ByteBuffer) -> Bool {
        let queued = accounting.queued.add(frame.readableBytes, ordering: .relaxed).newValue
        guard queued <= accounting.limit else {
            continuation.finish()
            return false
        }
        continuation.yield(.text(frame))
        return true
    }

    /// Queues a close frame after whatever is already queued and finishes the outbox.
    public func close(_ reason: CloseReason) {
        continuation.yield(.close(reason))
        continuation.finish()
    }
}
