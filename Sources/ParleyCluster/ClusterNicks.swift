import Logging
import ParleyChat
import ParleyCore
import PostgresNIO
import ServiceLifecycle

/// The cluster's ``NickRegistry``: a nick is a row of `nicks`, keyed by its case-folded form
/// (computed in Swift, not by PostgreSQL's locale-dependent `lower()`), owned by a node.
///
/// Two nodes claiming one nick at once meet on the primary key, so exactly one insert wins.
/// Among its own sessions the node's hub decides, so a claim of a nick this node's row already
/// holds (a release that has not reached the database yet) succeeds. Each claim has its own id
/// and a release deletes only the claim it ends, so a release that is retried late cannot free
/// a newer claim. Operations run one at a time, in the order they were made.
final class ClusterNicks: NickRegistry, Service {
    private enum Operation: Sendable {
        case claim(Nick, CheckedContinuation<Result<Void, ChatError>, Never>)
        case release(Nick)
        /// A release that failed, tried again.
        case retry(key: String, claim: String)
    }

    private let node: String
    private let client: PostgresClient
    private let logger: Logger
    private let operations: AsyncStream<Operation>
    private let queue: AsyncStream<Operation>.Continuation

    init(node: String, client: PostgresClient, logger: Logger) {
        self.node = node
        self.client = client
        self.logger = logger
        (operations, queue) = AsyncStream.makeStream(of: Operation.self)
    }

    func claim(_ nick: Nick) async throws(ChatError) {
        let result = await withCheckedContinuation { queue.yield(.claim(nick, $0)) }
        try result.get()
    }

    func release(_ nick: Nick) {
        queue.yield(.release(nick))
    }

    func run() async {
        await withGracefulShutdownHandler {
            // Nick key → the id of this node's claim that holds it.
            var claims: [String: String] = [:]
            for await operation in operations {
                switch operation {
                case .claim(let nick, let answer):
                    let claim = Self.makeClaimID()
                    let result = await insert(nick, claim: claim)
                    if case .success = result { claims[nick.key] = claim }
                    answer.resume(returning: result)
                case .release(let nick):
                    guard let claim = claims.removeValue(forKey: nick.key) else { continue }
                    await delete(key: nick.key, claim: claim)
                case .retry(let key, let claim):
                    await delete(key: key, claim: claim)
                }
            }
        } onGracefulShutdown: {
            // The node's row goes last (``NodeLease``), and its nicks with it.
            self.queue.finish()
        }
    }

    private func insert(_ nick: Nick, claim: String) async -> Result<Void, ChatError> {
        let outcome = await ClusterDeadline.run(ClusterNode.operationTimeout) { [client, node, logger] in
            let rows = try await client.query(
                """
                INSERT INTO nicks (key, nick, node, claim) VALUES (\(nick.key), \(nick.value), \(node), \(claim))
                ON CONFLICT (key) DO UPDATE SET nick = excluded.nick, claim = excluded.claim
                    WHERE nicks.node = excluded.node
                RETURNING key
                """,
                logger: logger
            )
            var inserted = false
            for try await _ in rows.decode(String.self) { inserted = true }
            return inserted
        }
        switch outcome {
        case .success(true):
            return .success(())
        case .success(false):
            return .failure(ChatError(.nickTaken, "The nick \(nick.value) is in use; pick another."))
        case .failure(let error):
            logger.warning("Claiming a nick failed: \(error)")
            // The insert may still commit: free that claim again once the database answers.
            retryLater(key: nick.key, claim: claim)
            return .failure(ChatError(.unavailable, "Nicks cannot be checked right now; try again shortly."))
        }
    }

    private func delete(key: String, claim: String) async {
        let outcome = await ClusterDeadline.run(ClusterNode.operationTimeout) { [client, node, logger] in
            try await client.query(
                "DELETE FROM nicks WHERE key = \(key) AND node = \(node) AND claim = \(claim)",
                logger: logger
            )
        }
        if case .failure(let error) = outcome {
            logger.warning("Releasing a nick failed; trying again in a second: \(error)")
            retryLater(key: key, claim: claim)
        }
    }

    private func retryLater(key: String, claim: String) {
        Task { [queue] in
            try? await Task.sleep(for: .seconds(1))
            queue.yield(.retry(key: key, claim: claim))
        }
    }

    /// 96 random bits, in hex.
    private static func makeClaimID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<3).map { _ in String(generator.next() as UInt32, radix: 16) }.joined(separator: "-")
    }
}
