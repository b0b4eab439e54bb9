import Logging
import ParleyChat
import ParleyCore
import PostgresNIO
import ServiceLifecycle

/// The cluster's ``SessionDirectory``: sessions are rows of `nicks`, room memberships rows of
/// `members`, shared by every node.
///
/// A nick is keyed by its case-folded form (computed in Swift, not by PostgreSQL's
/// locale-dependent `lower()`), so two nodes claiming one nick at once meet on the primary key
/// and exactly one insert wins. Among its own sessions the node's hub decides, so a claim of a
/// nick this node's row already holds (a release that has not reached the database yet)
/// succeeds. Each claim has its own id and a release deletes only the claim it ends, so a
/// release that is retried late cannot free a newer claim.
///
/// Operations are queued here and carried out one at a time, in order, by
/// ``ClusterDirectoryWorker``; so are the reads of room members, which therefore reach the hub
/// in the order they were made.
final class ClusterSessions: SessionDirectory {
    enum Operation: Sendable {
        case claim(Nick, token: String, CheckedContinuation<Result<Void, ChatError>, Never>)
        case resume(token: String, CheckedContinuation<Result<ResumedSession?, ChatError>, Never>)
        case release(Nick)
        /// A release that failed, tried again.
        case retryRelease(key: String, claim: String)
        case enter(RoomName, Nick, CheckedContinuation<Result<Void, ChatError>, Never>)
        case exit(RoomName, Nick)
        /// Read the members of rooms another node rang for.
        case refresh(Set<RoomName>)
        /// Compare the membership versions of the rooms with members here.
        case poll
    }

    let operations: AsyncStream<Operation>
    let queue: AsyncStream<Operation>.Continuation

    init() {
        (operations, queue) = AsyncStream.makeStream(of: Operation.self)
    }

    func claim(_ nick: Nick, session token: String) async throws(ChatError) {
        let result = await withCheckedContinuation { queue.yield(.claim(nick, token: token, $0)) }
        try result.get()
    }

    func resume(_ token: String) async throws(ChatError) -> ResumedSession? {
        let result = await withCheckedContinuation { queue.yield(.resume(token: token, $0)) }
        return try result.get()
    }

    func release(_ nick: Nick) {
        queue.yield(.release(nick))
    }

    func enter(_ room: RoomName, nick: Nick) async throws(ChatError) {
        let result = await withCheckedContinuation { queue.yield(.enter(room, nick, $0)) }
        try result.get()
    }

    func exit(_ room: RoomName, nick: Nick) {
        queue.yield(.exit(room, nick))
    }

    /// Reads the members of `rooms` again (another node rang: they changed).
    func refresh(_ rooms: Set<RoomName>) {
        queue.yield(.refresh(rooms))
    }
}

/// Carries out the operations of ``ClusterSessions`` against PostgreSQL, one at a time, and
/// polls the rooms with members here for membership changes another node's ring did not
/// announce (a node that died, a session that expired).
struct ClusterDirectoryWorker: Service {
    static let pollInterval: Duration = .seconds(1)
    private static let unavailable = ChatError(.unavailable, "Sessions cannot be checked right now; try again shortly.")

    let node: String
    let sessions: ClusterSessions
    let client: PostgresClient
    let hub: ChatHub
    let doorbell: Doorbell
    let logger: Logger

    /// What the loop keeps between operations.
    private final class State {
        /// Nick key → the id of this node's claim that holds it.
        var claims: [String: String] = [:]
        /// Room → the membership version last read.
        var versions: [RoomName: Int64] = [:]
    }

    func run() async {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    let state = State()
                    for await operation in sessions.operations {
                        await perform(operation, state)
                    }
                }
                tasks.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: Self.pollInterval)
                        sessions.queue.yield(.poll)
                    }
                }
                // The loop ends once the queue is finished and drained; the poll with it.
                await tasks.next()
                tasks.cancelAll()
            }
        } onGracefulShutdown: {
            // The chat has stopped: what it queued is carried out, then the loop ends.
            sessions.queue.finish()
        }
    }

    private func perform(_ operation: ClusterSessions.Operation, _ state: State) async {
        switch operation {
        case .claim(let nick, let token, let answer):
            let claim = Self.makeClaimID()
            let result = await insert(nick, token: token, claim: claim)
            if case .success = result { state.claims[nick.key] = claim }
            answer.resume(returning: result)
        case .resume(let token, let answer):
            let claim = Self.makeClaimID()
            let result = await take(token, claim: claim)
            if case .success(let resumed?) = result { state.claims[resumed.nick.key] = claim }
            answer.resume(returning: result)
        case .release(let nick):
            guard let claim = state.claims.removeValue(forKey: nick.key) else { return }
            await delete(key: nick.key, claim: claim)
        case .retryRelease(let key, let claim):
            await delete(key: key, claim: claim)
        case .enter(let room, let nick, let answer):
            answer.resume(returning: await enter(room, nick, state))
        case .exit(let room, let nick):
            await exit(room, nick, state)
        case .refresh(let rooms):
            let watched = await hub.watchedRooms()
            _ = await readMembers(of: rooms.filter { watched[$0] != nil }, state)
        case .poll:
            await poll(state)
        }
    }

    // MARK: Sessions

    private func insert(_ nick: Nick, token: String, claim: String) async -> Result<Void, ChatError> {
        let outcome = await ClusterDeadline.run(ClusterNode.operationTimeout) { [client, node, logger] in
            let rows = try await client.query(
                """
                INSERT INTO nicks (key, nick, node, claim, token_hash)
                VALUES (\(nick.key), \(nick.value), \(node), \(claim), encode(sha256(convert_to(\(token), 'UTF8')), 'hex'))
                ON CONFLICT (key) DO UPDATE
                    SET nick = excluded.nick, claim = excluded.claim, token_hash = excluded.token_hash
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
            retryRelease(key: nick.key, claim: claim)
            return .failure(Self.unavailable)
        }
    }

    /// Moves the session with `token` to this node, if a live node serves it or its grace has
    /// not run out, and tells the node that served it.
    private func take(_ token: String, claim: String) async -> Result<ResumedSession?, ChatError> {
        let outcome = await ClusterDeadline.run(ClusterNode.operationTimeout) { [client, node, logger] in
            let rows = try await client.query(
                """
                WITH found AS (
                    SELECT key, node AS previous FROM nicks
                    WHERE token_hash = encode(sha256(convert_to(\(token), 'UTF8')), 'hex')
                        AND (node IS NOT NULL OR expires_at > now())
                    FOR UPDATE
                )
                UPDATE nicks SET node = \(node), expires_at = NULL, claim = \(claim)
                FROM found WHERE nicks.key = found.key
                RETURNING nicks.nick, found.previous,
                    ARRAY(SELECT room FROM members WHERE members.key = nicks.key ORDER BY room)
                """,
                logger: logger
            )
            var found: (nick: String, previous: String?, rooms: [String])?
            for try await row in rows.decode((String, String?, [String]).self) { found = row }
            return found
        }
        switch outcome {
        case .success(nil):
            return .success(nil)
        case .success(let found?):
            guard let nick = Nick(found.nick) else { return .success(nil) }
            if let previous = found.previous, previous != node { doorbell.ringMoved(nickKey: nick.key) }
            return .success(ResumedSession(nick: nick, rooms: found.rooms.compactMap(RoomName.init)))
        case .failure(let error):
            logger.warning("Resuming a session failed: \(error)")
            return .failure(Self.unavailable)
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
            retryRelease(key: key, claim: claim)
        }
    }

    private func retryRelease(key: String, claim: String) {
        Task { [queue = sessions.queue] in
            try? await Task.sleep(for: .seconds(1))
            queue.yield(.retryRelease(key: key, claim: claim))
        }
    }

    // MARK: Members

    private func enter(_ room: RoomName, _ nick: Nick, _ state: State) async -> Result<Void, ChatError> {
        let outcome = await ClusterDeadline.run(ClusterNode.operationTimeout) { [client, logger] in
            let rows = try await client.query(
                """
                INSERT INTO members (room, key, nick) VALUES (\(room.value), \(nick.key), \(nick.value))
                ON CONFLICT DO NOTHING RETURNING key
                """,
                logger: logger
            )
            var inserted = false
            for try await _ in rows.decode(String.self) { inserted = true }
            return inserted
        }
        switch outcome {
        case .success(let inserted):
            if inserted { doorbell.ringPresence([room]) }
            return await readMembers(of: [room], state) ? .success(()) : .failure(Self.unavailable)
        case .failure(let error):
            logger.warning("Entering \(room.value) in the directory failed: \(error)")
            return .failure(Self.unavailable)
        }
    }

    /// Takes this node's member out of `room`; tried again every second until it is stored.
    private func exit(_ room: RoomName, _ nick: Nick, _ state: State) async {
        let outcome = await ClusterDeadline.run(ClusterNode.operationTimeout) { [client, node, logger] in
            let rows = try await client.query(
                """
                DELETE FROM members USING nicks
                WHERE members.room = \(room.value) AND members.key = \(nick.key)
                    AND nicks.key = members.key AND nicks.node = \(node)
                RETURNING members.key
                """,
                logger: logger
            )
            var deleted = false
            for try await _ in rows.decode(String.self) { deleted = true }
            return deleted
        }
        switch outcome {
        case .success(let deleted):
            if deleted { doorbell.ringPresence([room]) }
            // Read before telling the hub, so that it never goes by a listing from before.
            _ = await readMembers(of: [room], state)
            await hub.exitStored(room, key: nick.key)
        case .failure(let error):
            logger.warning("Leaving \(room.value) in the directory failed; trying again in a second: \(error)")
            Task { [queue = sessions.queue] in
                try? await Task.sleep(for: .seconds(1))
                queue.yield(.exit(room, nick))
            }
        }
    }

    /// Reads the members of `rooms` and hands them to the hub; returns whether the read worked.
    private func readMembers(of rooms: Set<RoomName>, _ state: State) async -> Bool {
        guard !rooms.isEmpty else { return true }
        let names = rooms.map(\.value)
        let outcome = await ClusterDeadline.run(ClusterNode.operationTimeout) { [client, logger] in
            var listing: [String: (version: Int64, nicks: [String])] = [:]
            for try await (room, version, nick) in try await client.query(
                """
                SELECT p.room, p.version, m.nick FROM room_presence p
                LEFT JOIN members m ON m.room = p.room
                WHERE p.room = ANY(\(names))
                """,
                logger: logger
            ).decode((String, Int64, String?).self) {
                listing[room, default: (version, [])].nicks.append(contentsOf: nick.map { [$0] } ?? [])
            }
            return listing
        }
        guard case .success(let listing) = outcome else { return false }
        for room in rooms {
            let entry = listing[room.value]
            state.versions[room] = entry?.version ?? 0
            await hub.membersRead(room, entry?.nicks.compactMap(Nick.init) ?? [])
        }
        return true
    }

    /// Reads the membership versions of the rooms with members here, and the members of those
    /// that changed since the last read.
    private func poll(_ state: State) async {
        let watched = Set(await hub.watchedRooms().keys)
        state.versions = state.versions.filter { watched.contains($0.key) }
        guard !watched.isEmpty else { return }
        let names = watched.map(\.value)
        let outcome = await ClusterDeadline.run(ClusterNode.operationTimeout) { [client, logger] in
            var versions: [String: Int64] = [:]
            for try await (room, version) in try await client.query(
                "SELECT room, version FROM room_presence WHERE room = ANY(\(names))",
                logger: logger
            ).decode((String, Int64).self) {
                versions[room] = version
            }
            return versions
        }
        guard case .success(let versions) = outcome else { return }
        let changed = watched.filter { state.versions[$0] != (versions[$0.value] ?? 0) }
        _ = await readMembers(of: changed, state)
    }

    /// 96 random bits, in hex.
    private static func makeClaimID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<3).map { _ in String(generator.next() as UInt32, radix: 16) }.joined(separator: "-")
    }
}
