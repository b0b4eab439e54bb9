public import NIOCore
import Synchronization

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
/// only the connection's writer takes them out, and it takes everything queued at once, so that
/// the frames of one commit batch leave in one write and one flush (one system call) rather than
/// one each. A broadcast never waits on a slow client. When the frames waiting exceed the byte
/// limit the queue is abandoned and the writer closes the connection: dropping a frame silently
/// would leave the client a gap it cannot see.
public struct Outbox: Sendable {
    private let queue: Queue

    /// Makes an outbox holding at most `byteLimit` bytes of frames, and the side its writer
    /// drains.
    public static func make(byteLimit: Int) -> (Outbox, Drain) {
        let queue = Queue(limit: byteLimit)
        return (Outbox(queue: queue), Drain(queue: queue))
    }

    /// Queues a frame. Returns `false` when it was not queued: the queue is full (the connection
    /// is about to close as a slow consumer) or closing.
    @discardableResult
    public func send(_ frame: ByteBuffer) -> Bool {
        queue.send(frame, wake: true)
    }

    /// Queues a frame without waking the writer: a fan-out queues a whole commit batch for
    /// every member first and then calls ``flush()`` on each, so that each writer wakes once
    /// per batch and finds all of it, rather than once per message.
    @discardableResult
    public func enqueue(_ frame: ByteBuffer) -> Bool {
        queue.send(frame, wake: false)
    }

    /// Wakes the writer for frames queued with ``enqueue(_:)``.
    public func flush() {
        queue.flush()
    }

    /// Queues a close frame after whatever is already queued; nothing is queued after it.
    public func close(_ reason: CloseReason) {
        queue.close(reason)
    }

    /// What the writer takes out in one go.
    public struct Batch: Sendable {
        /// Text frames, in the order they were queued.
        public var frames: [ByteBuffer]
        /// Set when the connection is to be closed after `frames`.
        public var close: CloseReason?
        /// The queue outgrew its limit: the client does not read fast enough. `frames` is empty.
        public var overflowed: Bool
    }

    /// The writer's side.
    public struct Drain: Sendable {
        fileprivate let queue: Queue

        /// Waits for frames (or a close) and takes everything queued. Returns `nil` when the
        /// waiting task is cancelled.
        public func next() async -> Batch? {
            await queue.next()
        }

        /// `bytes` of frames taken with ``next()`` have been written: they no longer count
        /// against the limit.
        public func wrote(_ bytes: Int) {
            queue.wrote(bytes)
        }

        /// Bytes queued or being written.
        public var queuedBytes: Int { queue.queuedBytes }

        /// Switches to push mode: from now on `pump` is called (on the producer's thread, outside
        /// any lock) whenever frames are waiting and no pump is scheduled; it should arrange for
        /// ``takeFrames()`` to be called until it returns `nil`, on the thread that owns the
        /// socket. `end` is called once with the close (or the overflow), after every frame
        /// queued before it has been taken.
        ///
        /// A transport whose sockets live on event loops uses this to write a commit batch to
        /// every member from the loop itself: no task wakes up per recipient, and none waits per
        /// connection for the close.
        public func push(to pump: @escaping @Sendable () -> Void, end: @escaping @Sendable (Batch) -> Void) {
            queue.startPushing(pump, end: end)
        }

        /// Push mode: takes the frames waiting, or returns `nil` (and the next frame schedules
        /// the pump again).
        public func takeFrames() -> [ByteBuffer]? {
            queue.takeFrames()
        }
    }

    /// The shared state, behind one mutex: `send` runs on the fan-out path for every recipient and
    /// must not suspend, so an actor would not do.
    fileprivate final class Queue: Sendable {
        struct State {
            var frames: [ByteBuffer] = []
            var queuedBytes = 0
            var close: CloseReason?
            var overflowed = false
            var waiter: CheckedContinuation<Batch?, Never>?
            /// The writer took the close (or the overflow): the queue is finished.
            var finished = false
            /// Push mode's pump, and whether it is scheduled (or running), and who gets the close.
            var pump: (@Sendable () -> Void)?
            var pumpScheduled = false
            var end: (@Sendable (Batch) -> Void)?

            mutating func take() -> Batch? {
                if pump != nil {
                    // Push mode: frames go to the pump; the close waits until they are taken.
                    guard frames.isEmpty, !pumpScheduled, close != nil || overflowed else { return nil }
                    finished = true
                    return Batch(frames: [], close: close, overflowed: overflowed)
                }
                guard !frames.isEmpty || close != nil || overflowed else { return nil }
                let batch = Batch(frames: frames, close: close, overflowed: overflowed)
                frames = []
                finished = close != nil || overflowed
                return batch
            }
        }

        let limit: Int
        let state = Mutex(State())

        init(limit: Int) { self.limit = limit }

        func send(_ frame: ByteBuffer, wake: Bool) -> Bool {
            let (accepted, wakeUp) = state.withLock { state -> (Bool, WakeUp) in
                guard state.close == nil, !state.overflowed else { return (false, WakeUp()) }
                state.queuedBytes += frame.readableBytes
                if state.queuedBytes > limit {
                    state.overflowed = true
                    state.frames = []
                } else {
                    state.frames.append(frame)
                }
                return (!state.overflowed, wake || state.overflowed ? state.wakeUp() : WakeUp())
            }
            wakeUp.run()
            return accepted
        }

        func flush() {
            state.withLock { $0.wakeUp() }.run()
        }

        func close(_ reason: CloseReason) {
            state.withLock { state -> WakeUp in
                guard state.close == nil, !state.overflowed else { return WakeUp() }
                state.close = reason
                return state.wakeUp()
            }.run()
        }

        func startPushing(_ pump: @escaping @Sendable () -> Void, end: @escaping @Sendable (Batch) -> Void) {
            state.withLock { state -> WakeUp in
                state.pump = pump
                state.end = end
                return state.wakeUp()
            }.run()
        }

        func takeFrames() -> [ByteBuffer]? {
            let (frames, wakeUp) = state.withLock { state -> ([ByteBuffer]?, WakeUp) in
                if !state.frames.isEmpty {
                    defer { state.frames = [] }
                    return (state.frames, WakeUp())
                }
                state.pumpScheduled = false
                return (nil, state.wakeUp())  // a close that waited for these frames
            }
            wakeUp.run()
            return frames
        }

        func next() async -> Batch? {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Batch?, Never>) in
                    let ready = state.withLock { state -> Batch?? in
                        if state.finished || Task.isCancelled { return .some(nil) }
                        if let batch = state.take() { return batch }
                        state.waiter = continuation
                        return nil
                    }
                    if let ready { continuation.resume(returning: ready) }
                }
            } onCancel: {
                let waiter = state.withLock { state in
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume(returning: nil)
            }
        }

        func wrote(_ bytes: Int) {
            state.withLock { $0.queuedBytes -= bytes }
        }

        var queuedBytes: Int { state.withLock { $0.queuedBytes } }
    }
}

/// What to do once the lock is released: resume the waiting writer, schedule the pump.
private struct WakeUp {
    var waiter: (CheckedContinuation<Outbox.Batch?, Never>, Outbox.Batch)?
    var pump: (@Sendable () -> Void)?
    var end: (@Sendable (Outbox.Batch) -> Void, Outbox.Batch)?

    func run() {
        if let (waiter, batch) = waiter { waiter.resume(returning: batch) }
        pump?()
        if let (end, batch) = end { end(batch) }
    }
}

extension Outbox.Queue.State {
    /// Hands what is queued to the pump or the waiting writer (to be run outside the lock).
    fileprivate mutating func wakeUp() -> WakeUp {
        var wakeUp = WakeUp()
        if let pump, !pumpScheduled, !frames.isEmpty {
            pumpScheduled = true
            wakeUp.pump = pump
        }
        if let end, let batch = take() {
            self.end = nil
            wakeUp.end = (end, batch)
        } else if let waiter, let batch = take() {
            self.waiter = nil
            wakeUp.waiter = (waiter, batch)
        }
        return wakeUp
    }
}
