import Foundation
public import Logging
public import ParleyCore
public import ServiceLifecycle

/// The single writer of chat messages: folds the `say`s of all connections into group commits,
/// then hands each committed batch to the hub in commit order.
///
/// A `say` is acknowledged and broadcast only after the transaction holding it has committed;
/// while one batch commits the next one gathers, so a busy server commits many messages per
/// transaction and an idle one commits each at once.
public actor CommitPipeline: Service {
    /// The most messages one transaction holds.
    public let maxBatchSize: Int

    private let store: any MessageStore
    private let hub: ChatHub
    private let logger: Logger
    private let now: @Sendable () -> Int64
    private let metrics: ChatMetrics
    private let committed: (@Sendable ([RoomName: Int64]) -> Void)?

    private var pending: [Request] = []
    private var batchWaiter: CheckedContinuation<Void, Never>?
    private var closed = false
    private var submitted: UInt64 = 0
    private var completed: UInt64 = 0
    private var flushWaiters: [(upTo: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
    private var failing = false

    /// Counts since start: transactions committed and the messages in them.
    public struct Statistics: Sendable, Equatable {
        public var batches = 0
        public var messages = 0
    }

    public private(set) var statistics = Statistics()

    /// False from a failed commit until the next one succeeds.
    public var isStoreHealthy: Bool { !failing }

    struct Request {
        var room: RoomName
        var nick: String
        var text: String
        var mid: String?
        var ack: AckTarget
    }

    public init(
        store: any MessageStore,
        hub: ChatHub,
        maxBatchSize: Int = 1024,
        logger: Logger,
        metrics: ChatMetrics = .none,
        now: (@Sendable () -> Int64)? = nil,
        committed: (@Sendable ([RoomName: Int64]) -> Void)? = nil
    ) {
        self.metrics = metrics
        self.committed = committed
        self.store = store
        self.hub = hub
        self.maxBatchSize = maxBatchSize
        self.logger = logger
        self.now = now ?? { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
    }

    /// Queues a message for the next commit. Returns `false` once the pipeline has shut down.
    public func submit(room: RoomName, nick: Nick, text: MessageText, mid: String? = nil, ack: AckTarget) -> Bool {
        guard !closed else { return false }
        pending.append(Request(room: room, nick: nick.value, text: text.value, mid: mid, ack: ack))
        metrics.messagesReceived.increment()
        submitted += 1
        batchWaiter?.resume()
        batchWaiter = nil
        return true
    }

    /// Returns once every message submitted before the call has been committed (or rejected)
    /// and handed to the hub.
    public func flush() async {
        let target = submitted
        if completed >= target { return }
        await withCheckedContinuation { flushWaiters.append((target, $0)) }
    }

    /// Commits batches until graceful shutdown, then commits what is still queued and returns.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await self.commitLoop()
            } onCancel: {
                Task { await self.close() }
            }
        } onGracefulShutdown: {
            Task { await self.close() }
        }
    }

    private func close() {
        closed = true
        batchWaiter?.resume()
        batchWaiter = nil
    }

    private func commitLoop() async {
        while let batch = await nextBatch() {
            let createdAt = now()
            let drafts = batch.map {
                MessageDraft(room: $0.room, nick: $0.nick, text: $0.text, createdAt: createdAt, mid: $0.mid)
            }
            do {
                let started = ContinuousClock.now
                let stored = try await store.append(drafts)
                let (seconds, attoseconds) = (ContinuousClock.now - started).components
                metrics.commitDuration.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
                metrics.commitBatchSize.record(drafts.count)
                statistics.batches += 1
                statistics.messages += stored.count(where: \.isNew)
                metrics.messagesCommitted.increment(by: stored.count(where: \.isNew))
                if let committed {
                    var newest: [RoomName: Int64] = [:]
                    for result in stored where result.isNew {
                        newest[result.message.room] = max(newest[result.message.room] ?? 0, result.message.id)
                    }
                    if !newest.isEmpty { committed(newest) }
                }
                await hub.deliver(Array(zip(stored, batch.lazy.map(\.ack))))
                if failing {
                    failing = false
                    logger.notice("Message store recovered; commits succeed again.")
                }
            } catch {
                metrics.storeErrors.increment()
                if !failing {
                    failing = true
                    logger.error("Message store failed to commit; says are refused until it recovers: \(error)")
                }
                await hub.reject(
                    batch.map(\.ack),
                    ChatError(.unavailable, "The message could not be stored; try again shortly.")
                )
            }
            completed += UInt64(batch.count)
            resumeFlushWaiters()
        }
        resumeFlushWaiters()
    }

    private func nextBatch() async -> ArraySlice<Request>? {
        while pending.isEmpty {
            if closed { return nil }
            await withCheckedContinuation { batchWaiter = $0 }
        }
        let count = min(pending.count, maxBatchSize)
        let batch = pending[..<count]
        pending.removeFirst(count)
        return batch
    }

    private func resumeFlushWaiters() {
        flushWaiters.removeAll { waiter in
            guard waiter.upTo <= completed || (closed && pending.isEmpty) else { return false }
            waiter.continuation.resume()
            return true
        }
    }
}
