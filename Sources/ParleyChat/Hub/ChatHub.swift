import NIOCore
public import ParleyCore

/// The in-memory state of the chat: open connections, their nicks, the rooms and who is in them.
/// It fans committed messages out to room members.
///
/// A member joins in two steps so that the switch from replayed history to live messages has no
/// gap and no duplicate: ``beginJoin(_:room:nick:resume:)`` starts collecting the room's live messages
/// for the member, the caller reads history from the store, and
/// ``completeJoin(_:room:history:ref:)`` sends `joined`, the history, then the collected
/// messages that the history does not already hold. Each member remembers the newest id it was
/// sent, so a message committed before the history was read but delivered after is not sent twice.
///
/// A nick belongs to a *session*, not to a connection. When a connection drops, its session keeps
/// the nick and its room memberships ("held") for the grace period, so the other members see no
/// leave/join flap if the client comes back in time with `resume`. A `resume` also takes a session
/// over from a connection that is still open (a phone that moved networks before the server
/// noticed): that connection is closed with ``CloseReason/replaced``.
///
/// Each room with members here keeps its newest messages in memory, encoded as they were
/// broadcast (``RecentMessages``): most joins, `since` replays and `history` pages are answered
/// from there, in the same step as the join, and only the rest reads the store.
public actor ChatHub {
    /// The most rooms one connection may be in.
    public let maxRoomsPerConnection: Int
    /// The most members one room may have (0: no limit).
    public let maxMembersPerRoom: Int
    /// How long a dropped connection's session keeps its nick and rooms (zero: not at all).
    public let sessionGrace: Duration
    /// The most messages each room keeps in memory for joins and replays.
    public let recentMessagesPerRoom: Int
    /// The most bytes all rooms' kept messages may take together (0: none are kept).
    public let maxRecentBytes: Int

    private var connections: [ConnectionID: Connection] = [:]
    /// When each connection that has not joined a room yet opened, for the join timeout.
    private var unjoined: [ConnectionID: ContinuousClock.Instant] = [:]
    private var rooms: [RoomName: Room] = [:]
    private var sessions = SessionTable()
    private var nextConnectionID: ConnectionID = 1
    private var accepting = true
    private var emptyWaiters: [CheckedContinuation<Void, Never>] = []
    /// What all rooms' kept messages take, about (see ``RecentMessages/bytes``).
    private var recentBytes = 0 {
        didSet { metrics.recentMessagesBytes.record(recentBytes) }
    }
    /// What all rooms' kept messages take now, about.
    var recentMessagesBytes: Int { recentBytes }
    /// Counts uses of kept messages, to tell the coldest room.
    private var recentClock: UInt64 = 0
    /// Counts ``forgetRecentMessages()``: a store read begun before it is not kept.
    private var recentGeneration = 0

    private let metrics: ChatMetrics
    private var memberCount = 0
    /// Wakes ``RoomCatchUp`` when a room's members miss messages that are in the store.
    private let catchUpRequests: AsyncStream<Void>.Continuation?
    /// The rooms ``RoomCatchUp`` is to read (queued) or reading (running).
    private var catchUpRooms: Set<RoomName> = []
    /// Where sessions, nicks and members are shared across nodes, in a cluster.
    private let directory: (any SessionDirectory)?

    /// - Parameter catchUpRequests: where to queue rooms that need reading from the store (see
    ///   ``RoomCatchUp``); without it, a message that would leave a gap is not sent.
    /// - Parameter directory: in a cluster, where a new session's nick must be claimed first
    ///   (see ``beginJoin(_:room:nick:resume:claimedSession:)``), members are listed for every
    ///   node, and sessions are released when they end.
    /// - Parameter recentMessagesPerRoom: the most messages a room keeps in memory; one more
    ///   than the longest replay answers every replay of the room's newest messages from there.
    /// - Parameter maxRecentBytes: the most bytes all rooms' kept messages may take; past it,
    ///   the rooms whose kept messages were used longest ago forget them.
    public init(
        maxRoomsPerConnection: Int = 100,
        maxMembersPerRoom: Int = 0,
        sessionGrace: Duration = .zero,
        recentMessagesPerRoom: Int = ProtocolLimits.maxSinceReplay + 1,
        maxRecentBytes: Int = 64 << 20,
        metrics: ChatMetrics = .none,
        catchUpRequests: AsyncStream<Void>.Continuation? = nil,
        directory: (any SessionDirectory)? = nil
    ) {
        self.directory = directory
        self.maxRoomsPerConnection = maxRoomsPerConnection
        self.maxMembersPerRoom = maxMembersPerRoom
        self.sessionGrace = sessionGrace
        self.recentMessagesPerRoom = recentMessagesPerRoom
        self.maxRecentBytes = maxRecentBytes
        self.metrics = metrics
        self.catchUpRequests = catchUpRequests
    }

    private func recordSizes() {
        metrics.connections.record(connections.count)
        metrics.rooms.record(rooms.count)
        metrics.members.record(memberCount)
    }

    // MARK: Connections

    /// Registers a new connection, or returns `nil` once the hub is shutting down.
    public func connect(outbox: Outbox) -> ConnectionID? {
        guard accepting else { return nil }
        let id = nextConnectionID
        nextConnectionID += 1
        connections[id] = Connection(outbox: outbox)
        unjoined[id] = .now
        metrics.connections.record(connections.count)
        return id
    }

    /// Forgets a closed connection. Its session keeps the nick and the rooms for the grace
    /// period. Without a grace period, while shutting down, or when it had left every room, it
    /// leaves its rooms at once (the others see `presence` leave) and its nick becomes free.
    public func disconnect(_ id: ConnectionID) {
        guard let connection = connections.removeValue(forKey: id) else { return }
        unjoined.removeValue(forKey: id)
        if let session = session(of: id, connection) {
            session.liveConnection = nil
            if !accepting && directory != nil {
                // A cluster node shutting down leaves its sessions in the directory for the
                // grace period (``SessionDirectory``), so that their clients resume elsewhere
                // and nobody sees them leave.
                for roomName in connection.rooms { removeMember(id, from: roomName, exitDirectory: false) }
                forget(session)
            } else if accepting && sessionGrace > .zero
                && !(connection.rooms.isEmpty && session.elsewhere.isEmpty)
            {
                // (A client that left every room before closing is done: it keeps nothing.)
                for roomName in connection.rooms { hold(id, in: roomName, for: session) }
                scheduleRelease(of: session)
            } else {
                for roomName in connection.rooms { removeMember(id, from: roomName) }
                release(session)
            }
        } else {
            for roomName in connection.rooms { removeMember(id, from: roomName) }
        }
        if connections.isEmpty { wakeEmptyWaiters() }
        recordSizes()
    }

    /// Stops accepting connections and closes every open one with `reason`, after the frames
    /// already queued for it.
    public func closeAll(_ reason: CloseReason) {
        accepting = false
        for connection in connections.values {
            connection.outbox.close(reason)
        }
        for session in sessions.all { session.releaseTimer?.cancel() }
    }

    /// Returns once every connection has disconnected.
    /// (Also returns when the waiting task is cancelled: a bounded shutdown gives up on
    /// connections that do not go.)
    public func waitUntilEmpty() async {
        if connections.isEmpty { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { emptyWaiters.append($0) }
        } onCancel: {
            Task { await self.wakeEmptyWaiters() }
        }
    }

    private func wakeEmptyWaiters() {
        for waiter in emptyWaiters { waiter.resume() }
        emptyWaiters.removeAll()
    }

    /// Closes, with 1008, every connection that has been open for `timeout` without joining a
    /// room (after answering what it asked before). One sweep for all connections costs less
    /// than a timer task each (about 3 KB of memory per connection).
    public func closeConnectionsThatJoinedNothing(within timeout: Duration) {
        let deadline = ContinuousClock.now - timeout
        for (id, openedAt) in unjoined where openedAt <= deadline {
            guard let connection = connections[id], connection.nick == nil else { continue }
            connection.outbox.closeAfterReplies(.noJoin)
        }
    }

    /// Whether a join of connection `id` would open a new session (its first join, not
    /// resuming a session of this hub): the nick must then be claimed in the registry first.
    public func opensSession(_ id: ConnectionID, resume: String?) -> Bool {
        guard let connection = connections[id], connection.nick == nil else { return false }
        return resume.flatMap { sessions[$0] } == nil
    }

    /// Closes every connection with `reason` and forgets every session at once: a cluster
    /// node whose lease expired no longer serves them (the directory keeps them for the grace
    /// period, so their clients can resume on any node).
    public func dropAll(_ reason: CloseReason) {
        for session in Array(sessions.all) { forget(session, closing: reason) }
        for connection in connections.values where !connection.isReplaced {
            connection.outbox.close(reason)
        }
    }

    /// Makes the session `resumed`, which the directory just moved to this node, connection
    /// `id`'s. The rooms it is in elsewhere stay its own for the grace period, for the client to
    /// join again. Does nothing when this hub already knows the session (another connection
    /// adopted it meanwhile): the join then resumes it as usual.
    public func adopt(
        _ id: ConnectionID,
        token: String,
        _ resumed: ResumedSession,
        requested: Nick?
    ) throws(ChatError) {
        guard var connection = connections[id], connection.nick == nil, sessions[token] == nil else { return }
        if let stale = sessions.session(forKey: resumed.nick.key) {
            // This node still had an earlier session for the nick (the directory moved it away
            // and the notice has not come yet): the resumed one is newer.
            forget(stale, closing: .replaced)
        }
        let session = sessions.open(nick: resumed.nick, connection: id, token: token)
        session.elsewhere = Set(resumed.rooms)
        metrics.sessionsResumed.increment()
        if let requested, requested.key != resumed.nick.key {
            session.liveConnection = nil
            scheduleRelease(of: session)
            throw ChatError.badRequest(
                "The session to resume belongs to \(resumed.nick.value), not \(requested.value)."
            )
        }
        connection.nick = resumed.nick
        connections[id] = connection
        unjoined.removeValue(forKey: id)
        if !session.elsewhere.isEmpty { scheduleRelease(of: session) }
    }

    /// The directory moved the session that held the nick with case-folded `key` to another
    /// node: this node drops it without a leave (its client is over there now), closing its
    /// connection, if still open, with ``CloseReason/replaced``.
    public func sessionMoved(nickKey key: String) {
        guard let session = sessions.session(forKey: key) else { return }
        forget(session, closing: .replaced)
    }

    // MARK: Rooms

    /// First step of a join: claims the nick on the connection's first join (or resumes the
    /// session named by `resume`), checks the room limits, and starts collecting the room's live
    /// messages for the member.
    /// - Parameter claimedSession: with a directory, the resume token the caller claimed the
    ///   `requested` nick there with, for a new session (see ``opensSession(_:resume:)``). On
    ///   failure the caller releases it.
    /// - Returns: the connection's nick.
    public func beginJoin(
        _ id: ConnectionID,
        room roomName: RoomName,
        nick requested: Nick?,
        resume: String? = nil,
        claimedSession: String? = nil
    ) throws(ChatError) -> Nick {
        guard var connection = connections[id], !connection.isReplaced else {
            throw ChatError(.unavailable, "The connection is closing.")
        }
        let claim = try sessions.claim(current: connection.nick, requested: requested, resume: resume)
        let nick = claim.nick
        if let directory {
            if case .new = claim, claimedSession == nil {
                // A session of this hub ended between the caller's check and now.
                throw ChatError(.unavailable, "The nick could not be claimed; join again.")
            }
            if case .new = claim {
            } else if claimedSession != nil, let requested {
                directory.release(requested)  // resumed after all: the claim is not needed
            }
        }
        if case .resume(let resumed) = claim {
            // Resuming succeeds even if this room cannot be joined: the nick is the client's.
            takeOver(resumed, by: id)
            connection.nick = nick
            connections[id] = connection
            unjoined.removeValue(forKey: id)
        }
        let session = self.session(of: id, connection)
        let heldMember = session?.held[roomName]
        let isMemberElsewhere = session?.elsewhere.contains(roomName) ?? false
        if heldMember == nil && !isMemberElsewhere && !connection.rooms.contains(roomName) {
            if connection.rooms.count >= maxRoomsPerConnection {
                throw ChatError(.tooManyRooms, "A connection may be in at most \(maxRoomsPerConnection) rooms.")
            }
            if maxMembersPerRoom > 0, let members = rooms[roomName]?.members.count, members >= maxMembersPerRoom {
                throw ChatError(
                    .roomFull,
                    "\(roomName.value) is full (\(maxMembersPerRoom) members); try again later."
                )
            }
        }
        // Every check passed: from here on the join takes effect.
        if connection.nick == nil {
            let token = claimedSession ?? Session.makeToken()
            _ = sessions.open(nick: nick, connection: id, token: token)
            connection.nick = nick
            unjoined.removeValue(forKey: id)
        }
        session?.elsewhere.remove(roomName)
        connection.rooms.insert(roomName)
        connections[id] = connection

        let room = rooms[roomName] ?? Room()
        rooms[roomName] = room
        if let member = room.members[id] {
            member.pending = member.pending ?? []
        } else {
            let member = Member(nick: nick, outbox: connection.outbox)
            if let heldID = heldMember, let session {
                // The session's member from before the drop: the new connection takes its place
                // without the others seeing it leave and join again.
                session.held.removeValue(forKey: roomName)
                if room.members.removeValue(forKey: heldID) != nil { memberCount -= 1 }
                member.isVisible = true
            }
            room.members[id] = member
            memberCount += 1
            recordSizes()
        }
        return nick
    }

    /// What ``completeJoinFromMemory(_:room:page:ref:)`` did.
    public enum JoinFromMemory: Sendable, Equatable {
        /// The join is complete.
        case completed
        /// Memory does not hold the page: read it from the store and pass `generation` on to
        /// ``completeJoin(_:room:history:page:generation:ref:)``, which keeps what was read
        /// unless the kept messages were forgotten meanwhile (the read may predate the change).
        case readTheStore(generation: Int)
    }

    /// Second step of a join, when the room's messages kept in memory answer `page` (`nil`:
    /// no replay, only where the room stands): sends what
    /// ``completeJoin(_:room:history:page:generation:ref:)`` sends, without reading the store.
    /// Changes nothing when the store must be read.
    public func completeJoinFromMemory(
        _ id: ConnectionID,
        room roomName: RoomName,
        page: HistoryPage?,
        ref: String?
    ) -> JoinFromMemory {
        guard let room = rooms[roomName], let member = room.members[id], member.pending != nil,
            let answer = room.recent.page(page ?? .after(id: .max, limit: 0), roomLastID: room.knownLastID),
            let through = room.recent.covered?.through
        else { return .readTheStore(generation: recentGeneration) }
        room.recentUse = tickRecentClock()
        let replayed = page == nil ? (frames: [], truncated: false) : answer
        finishJoin(member, id, in: room, named: roomName, history: replayed, roomLastID: through, ref: ref)
        return .completed
    }

    /// Second step of a join: sends `joined`, the `history` event, and the live messages
    /// collected since ``beginJoin(_:room:nick:resume:)`` that come after the history; from then on the
    /// member gets the room's messages as they are committed. `history` is `page` as read from
    /// the store, which the room keeps in memory for the next joins (`nil`: not a page to keep)
    /// if the kept messages were not forgotten since `generation` (see ``JoinFromMemory``).
    public func completeJoin(
        _ id: ConnectionID,
        room roomName: RoomName,
        history: HistorySlice,
        page: HistoryPage? = nil,
        generation: Int? = nil,
        ref: String?
    ) {
        guard let room = rooms[roomName], let member = room.members[id], member.pending != nil else {
            return
        }
        room.knownLastID = max(room.knownLastID, history.roomLastID)
        let entries = history.messages.map { (id: $0.id, frame: ServerEvent.message($0)) }
        if generation == recentGeneration, let page, let range = Self.range(of: history, read: page) {
            remember(entries, after: range.after, through: range.through, in: room)
        }
        let replayed = (frames: entries.map(\.frame), truncated: history.truncated)
        finishJoin(member, id, in: room, named: roomName, history: replayed, roomLastID: history.roomLastID, ref: ref)
    }

    /// Sends `joined` and the `history` event of `history`'s encoded messages (which brings the
    /// member to `roomLastID`, or tells it to page on), the live messages collected meanwhile,
    /// and the others `join`.
    private func finishJoin(
        _ member: Member,
        _ id: ConnectionID,
        in room: Room,
        named roomName: RoomName,
        history: (frames: [ByteBuffer], truncated: Bool),
        roomLastID: Int64,
        ref: String?
    ) {
        let isNewMember = !member.isVisible
        let wasListed = isListed(member.nick.key, in: room)
        member.isVisible = true
        room.knownLastID = max(room.knownLastID, roomLastID)

        // By the case-folded key each nick already has: lowercasing in the comparison allocated
        // two strings per comparison, a sixth of the server's time when 100 clients joined at once.
        let members = listedNicks(in: room).sorted { $0.key < $1.key }.map(\.value)
        let joined = ServerEvent.joined(
            room: roomName,
            nick: member.nick,
            members: members,
            session: connections[id].flatMap { session(of: id, $0) }?.token,
            ref: ref
        )
        member.outbox.send(joined)
        member.outbox.send(
            ServerEvent.history(room: roomName, encoded: history.frames, truncated: history.truncated, ref: nil)
        )
        metrics.messagesReplayed.increment(by: history.frames.count)
        // After this history the client has the room up to its newest id: the replayed page
        // reaches it, or `since` was at or beyond it, or the page is `truncated` and the client
        // pages on for the rest.
        member.lastSentID = max(member.lastSentID, roomLastID)
        sendCollected(by: member, in: room, named: roomName)
        if isNewMember && !wasListed {
            broadcastPresence(room: roomName, nick: member.nick, event: "join")
        }
    }

    /// A `history` event answering `page` from the messages `room` keeps in memory, or `nil`
    /// when the store must be read (the room has no members here, or keeps too few).
    func recentHistory(of roomName: RoomName, _ page: HistoryPage, ref: String?) -> ByteBuffer? {
        guard let room = rooms[roomName], let answer = room.recent.page(page, roomLastID: room.knownLastID) else {
            return nil
        }
        room.recentUse = tickRecentClock()
        return ServerEvent.history(room: roomName, encoded: answer.frames, truncated: answer.truncated, ref: ref)
    }

    /// Forgets every message kept in memory: the store changed behind the server's back (an
    /// operator pruned or imported messages), so they may no longer be what the store holds.
    public func forgetRecentMessages() {
        recentGeneration += 1
        for room in rooms.values { room.recent.removeAll() }
        recentBytes = 0
    }

    /// The range of ids `slice` holds every message of, read as `page`; `nil` when it says
    /// nothing that could be kept.
    static func range(of slice: HistorySlice, read page: HistoryPage) -> (after: Int64, through: Int64)? {
        switch page {
        case .after(let id, _):
            guard slice.truncated else { return (id, max(id, slice.roomLastID)) }
            return slice.messages.last.map { (id, $0.id) }
        case .latest:
            guard slice.truncated else { return (0, slice.roomLastID) }
            return slice.messages.first.map { ($0.id - 1, slice.roomLastID) }
        case .before(let id, _):
            let through = min(id - 1, slice.roomLastID)
            guard slice.truncated else { return (0, through) }
            return slice.messages.first.map { ($0.id - 1, through) }
        }
    }

    /// Keeps `entries`, every message of `room` in `(after, through]`, within the limits: the
    /// room's count, and all rooms' bytes (the coldest rooms forget theirs first).
    private func remember(_ entries: [RecentMessages.Entry], after: Int64, through: Int64, in room: Room) {
        guard maxRecentBytes > 0 else { return }
        let before = room.recent.bytes
        room.recent.add(entries, after: after, through: through)
        room.recent.trim(toCount: recentMessagesPerRoom, bytes: maxRecentBytes)
        recentBytes += room.recent.bytes - before
        room.recentUse = tickRecentClock()
        guard recentBytes > maxRecentBytes else { return }
        // Down to 7/8 of the budget at once, so that a full budget is not scanned per message.
        let target = maxRecentBytes / 8 * 7
        let coldest = rooms.values.filter { $0 !== room && $0.recent.bytes > 0 }.sorted { $0.recentUse < $1.recentUse }
        for cold in coldest where recentBytes > target {
            recentBytes -= cold.recent.bytes
            cold.recent.removeAll()
        }
        if recentBytes > target {
            recentBytes -= room.recent.bytes
            room.recent.trim(toCount: recentMessagesPerRoom, bytes: target)
            recentBytes += room.recent.bytes
        }
    }

    private func tickRecentClock() -> UInt64 {
        recentClock += 1
        return recentClock
    }

    /// Undoes ``beginJoin(_:room:nick:resume:)`` when the history could not be read.
    public func abortJoin(_ id: ConnectionID, room roomName: RoomName) {
        guard let member = rooms[roomName]?.members[id], member.pending != nil else { return }
        if member.isVisible {
            // A rejoin of a room the member was already in: it stays in, and catches up on what
            // was collected meanwhile.
            if let room = rooms[roomName] { sendCollected(by: member, in: room, named: roomName) }
        } else {
            connections[id]?.rooms.remove(roomName)
            removeMember(id, from: roomName)
        }
    }

    /// Takes the connection out of a room and sends it `left`.
    public func leave(_ id: ConnectionID, room roomName: RoomName, ref: String?) throws(ChatError) {
        guard var connection = connections[id], connection.rooms.contains(roomName) else {
            throw ChatError(.notInRoom, "You are not in \(roomName.value).")
        }
        connection.rooms.remove(roomName)
        connections[id] = connection
        removeMember(id, from: roomName)
        connection.outbox.send(ServerEvent.left(room: roomName, ref: ref))
    }

    /// The directory listed `room`'s members, on every node: the members here are told who
    /// joined or left since the last listing (a nick listed here or there counts once).
    public func membersRead(_ roomName: RoomName, _ nicks: [Nick]) {
        guard let room = rooms[roomName] else { return }
        let listed = Dictionary(nicks.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let changed = Set(room.listed.keys).symmetricDifference(listed.keys)
        let before = changed.filter { isListed($0, in: room) }
        let previous = room.listed
        room.listed = listed
        for key in changed where isListed(key, in: room) != before.contains(key) {
            guard let nick = listed[key] ?? previous[key] else { continue }
            broadcastPresence(room: roomName, nick: nick, event: before.contains(key) ? "leave" : "join")
        }
    }

    /// The directory stored this node's exit of the nick with `key` from `room`.
    public func exitStored(_ roomName: RoomName, key: String) {
        guard let room = rooms[roomName], room.leaving.remove(key) != nil,
            isListed(key, in: room), let nick = room.listed[key]
        else { return }
        // Joined again elsewhere in the meantime.
        broadcastPresence(room: roomName, nick: nick, event: "join")
    }

    /// How many connections are in each room that has any.
    public func memberCounts() -> [RoomName: Int] {
        rooms.mapValues { room in room.members.values.count(where: \.isVisible) }
    }

    // MARK: Fan-out

    /// Sends committed messages to their rooms' members, in the order given (which is commit
    /// order, so ids ascend within each room), and acknowledges each to its sender. A `say` that
    /// repeated a stored `mid` is only acknowledged, with the id stored the first time.
    ///
    /// A member is only ever sent the message after the last one it has. When a message would
    /// leave a gap (another node committed the ids between), the room is read from the store
    /// for it instead (``RoomCatchUp``); the sender's ack does not wait for that.
    public func deliver(_ committed: [(result: AppendResult, ack: AckTarget)]) {
        // Frames are queued for everyone first and each writer is woken once at the end.
        var touched: [Member] = []
        var ackOutboxes: [Outbox] = []
        for (result, ack) in committed {
            let message = result.message
            if result.isNew, let room = rooms[message.room] {
                room.knownLastID = max(room.knownLastID, message.id)
                let frame = ServerEvent.message(message)
                fanOut(message, frame, in: room, after: nil, touched: &touched)
                remember([(message.id, frame)], after: message.id - 1, through: message.id, in: room)
            }
            if let outbox = connections[ack.connection]?.outbox {
                outbox.enqueue(ServerEvent.ack(id: message.id, ref: ack.ref), settlingReply: true)
                ackOutboxes.append(outbox)
            }
        }
        // Senders first: a sender whose ack waits behind a whole room's writes sends its next
        // message later, and the next commit then carries fewer messages per socket write.
        for outbox in ackOutboxes { outbox.flush() }
        flush(touched)
    }

    /// Tells the hub that `room` has messages up to `lastID` in the store (another node
    /// committed them, or a poll found them); members that miss some are caught up.
    public func roomReached(_ roomName: RoomName, lastID: Int64) {
        guard let room = rooms[roomName] else { return }
        room.knownLastID = max(room.knownLastID, lastID)
        if room.members.values.contains(where: { $0.isReceiving && $0.lastSentID < lastID }) {
            requestCatchUp(room, named: roomName)
        }
    }

    /// The rooms that have members here, each with the newest id known to the hub: what a
    /// poll of the store compares against.
    public func watchedRooms() -> [RoomName: Int64] {
        rooms.mapValues(\.knownLastID)
    }

    /// Where ``RoomCatchUp`` should read each room that asked from: the oldest `lastSentID` of
    /// a member that misses messages. A room none of whose members does any more is done.
    func catchUpStarts() -> [RoomName: Int64] {
        var starts: [RoomName: Int64] = [:]
        for roomName in catchUpRooms {
            guard let room = rooms[roomName] else {
                catchUpRooms.remove(roomName)
                continue
            }
            let behind = room.members.values.lazy.filter { $0.isReceiving && $0.lastSentID < room.knownLastID }
            if let start = behind.map(\.lastSentID).min() {
                room.catchUp = .running
                starts[roomName] = start
            } else {
                room.catchUp = .idle
                catchUpRooms.remove(roomName)
            }
        }
        return starts
    }

    /// Ends the catch-up of rooms whose read failed; the next request or poll starts another.
    func catchUpFailed(_ roomNames: [RoomName]) {
        for roomName in roomNames {
            rooms[roomName]?.catchUp = .idle
            catchUpRooms.remove(roomName)
        }
    }

    /// Sends what ``RoomCatchUp`` read for several rooms (see
    /// ``deliverCaughtUp(_:after:_:)``).
    func deliverCaughtUp(_ slices: [RoomName: HistorySlice], after starts: [RoomName: Int64]) {
        for (roomName, slice) in slices {
            guard let start = starts[roomName] else { continue }
            deliverCaughtUp(roomName, after: start, slice)
        }
    }

    /// Sends what ``RoomCatchUp`` read from the store: every message of `room` after `start`
    /// (up to `slice.roomLastID` unless the slice is truncated). Members that had everything
    /// up to `start` or later get what they miss; a member further behind waits for the next
    /// read.
    func deliverCaughtUp(_ roomName: RoomName, after start: Int64, _ slice: HistorySlice) {
        guard let room = rooms[roomName] else { return }
        var touched: [Member] = []
        var entries: [RecentMessages.Entry] = []
        entries.reserveCapacity(slice.messages.count)
        for message in slice.messages {
            let frame = ServerEvent.message(message)
            fanOut(message, frame, in: room, after: start, touched: &touched)
            entries.append((message.id, frame))
        }
        if let range = Self.range(of: slice, read: .after(id: start, limit: slice.messages.count)) {
            remember(entries, after: range.after, through: range.through, in: room)
        }
        if !slice.truncated {
            // The read saw the whole room: what it did not return does not exist (pruned), so
            // members are not waiting for it.
            room.knownLastID = slice.roomLastID
            for member in room.members.values where member.isReceiving && member.lastSentID >= start {
                member.lastSentID = max(member.lastSentID, slice.roomLastID)
            }
        }
        flush(touched)
    }

    /// Queues `message` for every member whose next message it is, and collects it for
    /// members still joining. A member it would leave a gap for gets the room caught up
    /// instead, unless `start` says the message follows a complete read from `start`.
    private func fanOut(
        _ message: ChatMessage,
        _ frame: ByteBuffer,
        in room: Room,
        after start: Int64?,
        touched: inout [Member]
    ) {
        var delivered = 0
        var missing = false
        for member in room.members.values where !member.isHeld {
            if member.pending != nil {
                member.pending!.append((message.id, frame))
                continue
            }
            guard message.id > member.lastSentID else { continue }
            let follows =
                if let start { member.lastSentID >= start } else { message.id == member.lastSentID + 1 }
            guard follows else {
                missing = true
                continue
            }
            if !member.needsFlush {
                member.needsFlush = true
                touched.append(member)
            }
            member.outbox.enqueue(frame)
            member.lastSentID = message.id
            delivered += 1
        }
        metrics.messagesBroadcast.increment(by: delivered)
        if missing { requestCatchUp(room, named: message.room) }
    }

    private func flush(_ touched: [Member]) {
        for member in touched {
            member.needsFlush = false
            member.outbox.flush()
        }
    }

    /// Sends a member that finished (or gave up) joining the messages collected meanwhile that
    /// follow what it has, in id order; if they leave a gap, the room is caught up for it.
    private func sendCollected(by member: Member, in room: Room, named roomName: RoomName) {
        var collected = member.pending ?? []
        member.pending = nil
        collected.sort { $0.0 < $1.0 }
        for (messageID, frame) in collected where messageID > member.lastSentID {
            guard messageID == member.lastSentID + 1 else {
                room.knownLastID = max(room.knownLastID, collected.last!.0)
                break
            }
            member.outbox.send(frame)
            member.lastSentID = messageID
        }
        if member.lastSentID < room.knownLastID { requestCatchUp(room, named: roomName) }
    }

    private func requestCatchUp(_ room: Room, named roomName: RoomName) {
        guard room.catchUp == .idle, let catchUpRequests else { return }
        room.catchUp = .queued
        catchUpRooms.insert(roomName)
        catchUpRequests.yield()
    }

    /// Tells each sender that its message could not be stored.
    public func reject(_ acks: [AckTarget], _ error: ChatError) {
        for ack in acks {
            connections[ack.connection]?.outbox.send(ServerEvent.error(error, ref: ack.ref), settlingReply: true)
        }
    }

    // MARK: Internals

    /// Takes connection `id`'s member out of the room; the others see it leave unless the
    /// directory still lists its nick there.
    /// - Parameter exitDirectory: whether the nick leaves the room for every node; not when the
    ///   session lives on elsewhere (moved, or kept for the grace period by the directory).
    private func removeMember(_ id: ConnectionID, from roomName: RoomName, exitDirectory: Bool = true) {
        guard let room = rooms[roomName], let member = room.members.removeValue(forKey: id) else { return }
        memberCount -= 1
        defer { recordSizes() }
        if let directory, exitDirectory {
            directory.exit(roomName, nick: member.nick)
            room.leaving.insert(member.nick.key)
        }
        if room.members.isEmpty {
            rooms.removeValue(forKey: roomName)
            recentBytes -= room.recent.bytes
        } else if member.isVisible && !isListed(member.nick.key, in: room) {
            broadcastPresence(room: roomName, nick: member.nick, event: "leave")
        }
    }

    /// Whether `room`'s members see the nick with `key` as a member: a member here has joined
    /// with it, or the directory lists it and this node has not taken it out.
    private func isListed(_ key: String, in room: Room) -> Bool {
        if room.listed[key] != nil && !room.leaving.contains(key) { return true }
        return room.members.values.contains { $0.isVisible && $0.nick.key == key }
    }

    /// Every nick `room`'s members see as a member, once each.
    private func listedNicks(in room: Room) -> [Nick] {
        var nicks: [String: Nick] = [:]
        nicks.reserveCapacity(room.members.count + room.listed.count)
        for (key, nick) in room.listed where !room.leaving.contains(key) { nicks[key] = nick }
        for member in room.members.values where member.isVisible { nicks[member.nick.key] = member.nick }
        return Array(nicks.values)
    }

    /// Tells the members of a room that `nick` joined or left, all but that nick's own.
    private func broadcastPresence(room roomName: RoomName, nick: Nick, event: String) {
        guard let room = rooms[roomName] else { return }
        let frame = ServerEvent.presence(room: roomName, nick: nick, event: event)
        for member in room.members.values
        where member.nick.key != nick.key && member.pending == nil && !member.isHeld {
            member.outbox.send(frame)
        }
    }

    // MARK: Sessions

    /// The session connection `id` holds: the one of its nick, while that session is live on it.
    private func session(of id: ConnectionID, _ connection: Connection) -> Session? {
        guard let nick = connection.nick, let session = sessions.session(forKey: nick.key),
            session.liveConnection == id
        else { return nil }
        return session
    }

    /// Moves `session` to connection `id`. A connection that still holds it is closed with
    /// 4001 (replaced) and its rooms are held for the new one, like those of a dropped one.
    private func takeOver(_ session: Session, by id: ConnectionID) {
        if let oldID = session.liveConnection, var old = connections[oldID] {
            for roomName in old.rooms { hold(oldID, in: roomName, for: session) }
            old.rooms = []
            old.isReplaced = true
            connections[oldID] = old
            old.outbox.close(.replaced)
        }
        session.liveConnection = id
        metrics.sessionsResumed.increment()
        if session.held.isEmpty && session.elsewhere.isEmpty {
            session.releaseTimer?.cancel()
        } else {
            scheduleRelease(of: session)
        }
    }

    /// Keeps the member of connection `id` in the room on behalf of its session, with no
    /// connection behind it: it gets no messages, and the others still see it as a member.
    private func hold(_ id: ConnectionID, in roomName: RoomName, for session: Session) {
        guard let member = rooms[roomName]?.members[id] else { return }
        if !member.isVisible {
            removeMember(id, from: roomName)  // it never finished joining: nobody saw it
            return
        }
        member.pending = nil
        member.isHeld = true
        session.held[roomName] = id
    }

    /// After the grace period, the members the session still holds leave their rooms, and
    /// the nick becomes free if no connection has resumed the session.
    private func scheduleRelease(of session: Session) {
        session.releaseTimer?.cancel()
        session.generation += 1
        let generation = session.generation
        let token = session.token
        let grace = sessionGrace
        session.releaseTimer = Task {
            try? await Task.sleep(for: grace)
            guard !Task.isCancelled else { return }
            self.graceEnded(token, generation: generation)
        }
    }

    private func graceEnded(_ token: String, generation: Int) {
        guard let session = sessions[token], session.generation == generation else { return }
        for (roomName, heldID) in session.held { removeMember(heldID, from: roomName) }
        session.held.removeAll()
        leaveElsewhere(session)
        if session.liveConnection == nil { release(session) }
        recordSizes()
    }

    /// Ends a session: its held members leave and its nick becomes free.
    private func release(_ session: Session) {
        session.releaseTimer?.cancel()
        for (roomName, heldID) in session.held { removeMember(heldID, from: roomName) }
        session.held.removeAll()
        leaveElsewhere(session)
        sessions.remove(session)
        directory?.release(session.nick)
    }

    /// Takes a resumed session out of the rooms it was in on another node and has not joined
    /// here again.
    private func leaveElsewhere(_ session: Session) {
        for roomName in session.elsewhere {
            directory?.exit(roomName, nick: session.nick)
            guard let room = rooms[roomName] else { continue }
            let wasListed = isListed(session.nick.key, in: room)
            room.leaving.insert(session.nick.key)
            if wasListed && !isListed(session.nick.key, in: room) {
                broadcastPresence(room: roomName, nick: session.nick, event: "leave")
            }
        }
        session.elsewhere.removeAll()
    }

    /// Drops a session this node no longer serves, without a leave and without telling the
    /// directory: another node has it now, or the directory keeps it for the grace period. A
    /// connection that still holds it is closed with `reason`.
    private func forget(_ session: Session, closing reason: CloseReason? = nil) {
        session.releaseTimer?.cancel()
        for (roomName, heldID) in session.held { removeMember(heldID, from: roomName, exitDirectory: false) }
        session.held.removeAll()
        session.elsewhere.removeAll()
        if let liveID = session.liveConnection, var live = connections[liveID] {
            for roomName in live.rooms { removeMember(liveID, from: roomName, exitDirectory: false) }
            live.rooms = []
            live.isReplaced = true
            connections[liveID] = live
            if let reason { live.outbox.close(reason) }
        }
        session.liveConnection = nil
        sessions.remove(session)
        recordSizes()
    }
}
