public import NIOCore
import Synchronization

/// A connection's outbound queue, bounded by bytes.
///
/// Anyone may put frames in without waiting (the hub, the connection's own command handling);
/// the transport takes them out on the thread that owns the socket, everything queued at once,
/// so that the frames of one commit batch leave in one write and one flush (one system call)
/// rather than one each. A broadcast never waits on a slow client. When the frames waiting
/// exceed the byte limit the queue is abandoned and the connection closed: dropping a frame
/// silently would leave the client a gap it cannot see.
///
/// The outbox also keeps count of the replies the connection is owed, so that a close for a
/// policy reason (``closeAfterReplies(_:)``) goes out only after the answer to every command
/// already accepted, including `say`s still in the commit pipeline.
public struct Outbox: Sendable {
    private let queue: Queue

    /// Makes an outbox holding at most `maxQueuedBytes` bytes of frames, and the side its transport
    /// drains.
    public static func make(maxQueuedBytes: Int) -> (Outbox, Drain) {
        let queue = Queue(limit: maxQueuedBytes)
        return (Outbox(queue: queue), Drain(queue: queue))
    }

    /// Queues a frame and wakes the transport. Returns `false` when it was not queued: the queue
    /// is full (the connection is about to close as a slow consumer), closed, or detached.
    ///
    /// - Parameter settlingReply: the frame answers a command counted with ``acceptCommand()``.
    @discardableResult
    public func send(_ frame: ByteBuffer, settlingReply: Bool = false) -> Bool {
        queue.send(frame, wake: true, settlingReply: settlingReply)
    }

    /// Queues a frame without waking the transport: a fan-out queues a whole commit batch for
    /// every member first and then calls ``flush()`` on each, so that each transport wakes once
    /// per batch and finds all of it, rather than once per message.
    @discardableResult
    public func enqueue(_ frame: ByteBuffer, settlingReply: Bool = false) -> Bool {
        queue.send(frame, wake: false, settlingReply: settlingReply)
    }

    /// Wakes the transport for frames queued with ``enqueue(_:settlingReply:)``.
    public func flush() {
        queue.flush()
    }

    /// Counts a command whose reply is still to come; ``send(_:settlingReply:)`` or
    /// ``settleReply()`` settles it.
    public func acceptCommand() {
        queue.changeRepliesOwed(by: 1)
    }

    /// Settles a command counted with ``acceptCommand()`` whose reply (if any) was already
    /// queued, or that ended without one.
    public func settleReply() {
        queue.changeRepliesOwed(by: -1)
    }

    /// Queues a close frame after whatever is already queued; nothing is queued after it. For a
    /// peer that cannot be served (too slow, replaced, the server is going away).
    public func close(_ reason: CloseReason) {
        queue.close(reason, afterReplies: false)
    }

    /// Closes, like ``close(_:)``, once every command accepted so far has been answered: a
    /// client closed for breaking a rule still learns the fate of everything it sent before.
    public func closeAfterReplies(_ reason: CloseReason) {
        queue.close(reason, afterReplies: true)
    }

    /// Whether a close has been asked for: commands that arrive now are not accepted.
    public var isClosing: Bool { queue.isClosing }

    /// How the connection is to end.
    public enum End: Sendable, Equatable {
        /// Close with this reason, after every frame queued before it.
        case close(CloseReason)
        /// The queue outgrew its limit: the client does not read fast enough.
        case overflow
    }

    /// The transport's side.
    public struct Drain: Sendable {
        fileprivate let queue: Queue

        /// Starts delivery: from now on `pump` is called (on the producer's thread, outside any
        /// lock) whenever frames are waiting and no pump is scheduled; it should arrange for
        /// ``takeFrames()`` to be called until it returns `nil`, on the thread that owns the
        /// socket. `end` is called once with the close (or the overflow), after every frame
        /// queued before it has been taken.
        ///
        /// A transport whose sockets live on event loops uses this to write a commit batch to
        /// every member from the loop itself: no task wakes up per recipient, and none waits per
        /// connection for the close.
        public func push(to pump: @escaping @Sendable () -> Void, end: @escaping @Sendable (End) -> Void) {
            queue.startPushing(pump, end: end)
        }

        /// Takes the frames waiting, or returns `nil` (and the next frame schedules the pump
        /// again).
        public func takeFrames() -> [ByteBuffer]? {
            queue.takeFrames()
        }

        /// `bytes` of frames taken with ``takeFrames()`` have been written: they no longer count
        /// against the limit.
        public func wrote(_ bytes: Int) {
            queue.wrote(bytes)
        }

        /// Closes, like ``Outbox/closeAfterReplies(_:)``, for a rule the transport saw broken.
        public func closeAfterReplies(_ reason: CloseReason) {
            queue.close(reason, afterReplies: true)
        }

        /// Bytes queued or being written.
        public var queuedBytes: Int { queue.queuedBytes }

        /// The connection has ended: forgets the pump and the end handler (which hold the
        /// transport's socket) and whatever is queued, and refuses frames from now on. The
        /// outbox itself may live on a while (a member held for a session's grace period keeps
        /// it); the connection's socket must not live on with it.
        public func detach() {
            queue.detach()
        }
    }

    /// The shared state, behind one mutex: `send` runs on the fan-out path for every recipient and
    /// must not suspend, so an actor would not do.
    fileprivate final class Queue: Sendable {
        struct State {
            var frames: [ByteBuffer] = []
            var queuedBytes = 0
            /// The close to send once the frames before it are out.
            var close: CloseReason?
            /// A close waiting for the replies owed.
            var closeAfterReplies: CloseReason?
            var repliesOwed = 0
            var overflowed = false
            /// The end was handed to the transport, or the connection is gone.
            var finished = false
            var pump: (@Sendable () -> Void)?
            /// The pump is scheduled or running.
            var pumpScheduled = false
            var end: (@Sendable (End) -> Void)?

            var isOpen: Bool { close == nil && !overflowed && !finished }
        }

        let limit: Int
        let state = Mutex(State())

        init(limit: Int) { self.limit = limit }

        func send(_ frame: ByteBuffer, wake: Bool, settlingReply: Bool) -> Bool {
            let (accepted, wakeUp) = state.withLock { state -> (Bool, WakeUp) in
                if settlingReply { state.repliesOwed -= 1 }
                guard state.isOpen else { return (false, WakeUp()) }
                state.queuedBytes += frame.readableBytes
                if state.queuedBytes > limit {
                    state.overflowed = true
                    state.frames = []
                } else {
                    state.frames.append(frame)
                }
                state.closeWhenNoRepliesOwed()
                return (!state.overflowed, wake || state.overflowed || state.close != nil ? state.wakeUp() : WakeUp())
            }
            wakeUp.run()
            return accepted
        }

        func flush() {
            state.withLock { $0.wakeUp() }.run()
        }

        func changeRepliesOwed(by change: Int) {
            state.withLock { state -> WakeUp in
                state.repliesOwed += change
                state.closeWhenNoRepliesOwed()
                return state.wakeUp()
            }.run()
        }

        func close(_ reason: CloseReason, afterReplies: Bool) {
            state.withLock { state -> WakeUp in
                guard state.isOpen else { return WakeUp() }
                if afterReplies {
                    if state.closeAfterReplies == nil { state.closeAfterReplies = reason }
                    state.closeWhenNoRepliesOwed()
                } else {
                    state.close = reason
                }
                return state.wakeUp()
            }.run()
        }

        var isClosing: Bool {
            state.withLock { !$0.isOpen || $0.closeAfterReplies != nil }
        }

        func startPushing(_ pump: @escaping @Sendable () -> Void, end: @escaping @Sendable (End) -> Void) {
            state.withLock { state -> WakeUp in
                guard !state.finished else { return WakeUp() }
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

        func wrote(_ bytes: Int) {
            state.withLock { $0.queuedBytes -= bytes }
        }

        var queuedBytes: Int { state.withLock { $0.queuedBytes } }

        func detach() {
            // Taken out under the lock, released outside it: the closures' captures may run
            // deinitialisers of their own.
            let released = state.withLock { state in
                defer {
                    state.pump = nil
                    state.end = nil
                    state.frames = []
                    state.finished = true
                }
                return (state.pump, state.end, state.frames)
            }
            _ = released
        }
    }
}

/// What to do once the lock is released: schedule the pump, hand over the end.
private struct WakeUp {
    var pump: (@Sendable () -> Void)?
    var end: (@Sendable (Outbox.End) -> Void, Outbox.End)?

    func run() {
        pump?()
        if let (end, ending) = end { end(ending) }
    }
}

extension Outbox.Queue.State {
    fileprivate mutating func closeWhenNoRepliesOwed() {
        if let reason = closeAfterReplies, repliesOwed <= 0, close == nil {
            close = reason
        }
    }

    /// Hands what is queued to the pump, and the end once nothing is left before it (to be run
    /// outside the lock).
    fileprivate mutating func wakeUp() -> WakeUp {
        var wakeUp = WakeUp()
        guard let pump, let end, !finished else { return wakeUp }
        if !pumpScheduled, !frames.isEmpty {
            pumpScheduled = true
            wakeUp.pump = pump
        }
        if frames.isEmpty, !pumpScheduled, close != nil || overflowed {
            finished = true
            self.pump = nil
            self.end = nil
            wakeUp.end = (end, overflowed ? .overflow : .close(close!))
        }
        return wakeUp
    }
}
