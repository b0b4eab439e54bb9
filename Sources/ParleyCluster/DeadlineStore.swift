import ParleyCore
import Synchronization

/// A ``MessageStore`` whose operations fail after a deadline instead of waiting for the
/// database for as long as it takes.
///
/// While PostgreSQL is down the pool waits for a connection it cannot open; a `say` must be
/// answered `unavailable` in seconds rather than hang. The operation itself is not stopped (a
/// query already sent may still commit): a client that retries with its `mid` is never stored
/// twice, and a message committed after all reaches the room like any other.
struct DeadlineStore: MessageStore {
    let base: any MessageStore
    let timeout: Duration

    func append(_ drafts: [MessageDraft]) async throws -> [AppendResult] {
        try await withDeadline { try await base.append(drafts) }
    }

    func history(of room: RoomName, _ page: HistoryPage) async throws -> HistorySlice {
        try await withDeadline { try await base.history(of: room, page) }
    }

    func rooms() async throws -> [StoredRoom] {
        try await withDeadline { try await base.rooms() }
    }

    func lastIDs(of rooms: [RoomName]) async throws -> [RoomName: Int64] {
        try await withDeadline { try await base.lastIDs(of: rooms) }
    }

    func histories(after starts: [RoomName: Int64], limit: Int) async throws -> [RoomName: HistorySlice] {
        try await withDeadline { [base] in try await base.histories(after: starts, limit: limit) }
    }

    func search(in room: RoomName, _ page: SearchPage) async throws -> HistorySlice {
        try await withDeadline { try await base.search(in: room, page) }
    }

    private func withDeadline<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await ClusterDeadline.run(timeout, operation).get()
    }
}

/// Runs database operations with a deadline.
enum ClusterDeadline {
    /// The operation's result, or ``TimedOut`` after `timeout`, whichever comes first. The
    /// operation runs in its own task, cancelled on timeout (an operation still waiting for a
    /// pooled connection is dropped; a query already sent may still complete), so one that
    /// waits on a dead socket cannot hold the caller.
    static func run<T: Sendable>(
        _ timeout: Duration,
        _ operation: @escaping @Sendable () async throws -> T
    ) async -> Result<T, any Error> {
        let answered = FirstAnswer()
        return await withCheckedContinuation { continuation in
            let alarm = Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled && answered.claim() {
                    continuation.resume(returning: .failure(TimedOut(timeout: timeout)))
                    // A query still waiting for a pooled connection is never sent.
                    answered.cancelWork()
                }
            }
            answered.setWork(
                Task {
                    let result = await Result { try await operation() }
                    if answered.claim() {
                        alarm.cancel()  // no sleeping task left behind per query
                        continuation.resume(returning: result)
                    }
                }
            )
        }
    }

    struct TimedOut: Error, CustomStringConvertible {
        let timeout: Duration
        var description: String { "PostgreSQL did not answer within \(timeout)" }
    }
}

/// Lets exactly one of two racing tasks answer, and the alarm cancel the work.
private final class FirstAnswer: Sendable {
    private let answered = Mutex(false)
    private let work = Mutex<Task<Void, Never>?>(nil)

    func setWork(_ task: Task<Void, Never>) {
        work.withLock { $0 = task }
    }

    func cancelWork() {
        work.withLock { $0 }?.cancel()
    }

    /// True for the first caller only.
    func claim() -> Bool {
        answered.withLock { answered in
            defer { answered = true }
            return !answered
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
