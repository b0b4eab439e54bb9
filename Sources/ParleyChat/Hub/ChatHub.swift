import NIOCore
public import ParleyCore

/// The in-memory state of the chat: open connections, their nicks, the rooms and who is in them.
/// It fans committed messages out to room members.
///
/// A member joins in two steps so that the switch from replayed history to live messages has no
/// gap and no duplicate: ``beginJoin(_:room:nick:resume:)`` starts collecting the room's live messages
/// for the member, the caller reads history from the store, and
/// ``completeJoin(_:room:history:since:ref:)`` sends `joined`, the history, then the collected
/// messages that the history does not already hold. Each member remembers the newest id it was
/// sent, so a message committed before the history was read but delivered after is not sent twice.
///
/// A nick belongs to a *session*, not to a connection. When a connection drops, its session keeps
/// the nick and its room memberships ("held") for the grace period, so the other members see no
/// leave/join flap if the client comes back in time with `resume`. A `resume` also takes a session
/// over from a connection that is still open (a phone that moved networks before the server
/// noticed): that connection is closed with ``CloseReason/replaced``.
public actor ChatHub {
    /// The most rooms one connection may be in.
    public let maxRoomsPerConnection: Int
    /// The most members one room may have (0: no limit).
    public let maxMembersPerRoom: Int
    /// How long a dropped connection's session keeps its nick and rooms (zero: not at all).
    public let sessionGrace: Duration

    private var connections: [ConnectionID: Connection] = [:]
    private var rooms: [RoomName: Room] = [:]
    private var sessions = SessionTable()
    private var nextConnectionID: ConnectionID = 1
    private var accepting = true
    private var emptyWaiters: [CheckedContinuation<Void, Never>] = []

    private let metrics: ChatMetrics
    private var memberCount = 0

    public init(
        maxRoomsPerConnection: Int = 100,
        maxMembersPerRoom: Int = 0,
        sessionGrace: Duration = .zero,
        metrics: ChatMetrics = .none
    ) {
        self.maxRoomsPerConnection = maxRoomsPerConnection
        self.maxMembersPerRoom = maxMembersPerRoom
        self.sessionGrace = sessionGrace
        self.metrics = metrics
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
        connections[id] = Connection(outbox: outbox, openedAt: .now)
        metrics.connections.record(connections.count)
        return id
    }

    /// Forgets a closed connection. Its session keeps the nick and the rooms for the grace
    /// period. Without a grace period, while shutting down, or when it had left every room, it
    /// leaves its rooms at once (the others see `presence` leave) and its nick becomes free.
    public func disconnect(_ id: ConnectionID) {
        guard let connection = connections.removeValue(forKey: id) else { return }
        if let token = connection.sessionToken, let session = sessions[token], session.liveConnection == id {
            session.liveConnection = nil
            // A client that left every room before closing is done: it keeps nothing.
            if accepting && sessionGrace > .zero && !connection.rooms.isEmpty {
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
        for connection in connections.values where connection.nick == nil && connection.openedAt <= deadline {
            connection.outbox.closeAfterReplies(.noJoin)
        }
    }

    // MARK: Rooms

    /// First step of a join: claims the nick on the connection's first join (or resumes the
    /// session named by `resume`), checks the room limits, and starts collecting the room's live
    /// messages for the member.
    /// - Returns: the connection's nick.
    public func beginJoin(
        _ id: ConnectionID,
        room roomName: RoomName,
        nick requested: Nick?,
        resume: String? = nil
    ) throws(ChatError) -> Nick {
        guard var connection = connections[id], !connection.isReplaced else {
            throw ChatError(.unavailable, "The connection is closing.")
        }
        let claim = try sessions.claim(current: connection.nick, requested: requested, resume: resume)
        let nick = claim.nick
        if case .resume(let resumed) = claim {
            // Resuming succeeds even if this room cannot be joined: the nick is the client's.
            takeOver(resumed, by: id)
            connection.sessionToken = resumed.token
            connection.nick = nick
            connections[id] = connection
        }
        let session = connection.sessionToken.flatMap { sessions[$0] }
        let heldMember = session?.held[roomName]
        if heldMember == nil && !connection.rooms.contains(roomName) {
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
            connection.sessionToken = openSession(nick: nick, connection: id)
            connection.nick = nick
        }
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

    /// Second step of a join: sends `joined`, the `history` event, and the live messages
    /// collected since ``beginJoin(_:room:nick:resume:)`` that come after the history; from then on the
    /// member gets the room's messages as they are committed.
    ///
    /// - Parameter since: the id the client said it has seen, if it gave one.
    public func completeJoin(
        _ id: ConnectionID,
        room roomName: RoomName,
        history: HistorySlice,
        since: Int64?,
        ref: String?
    ) {
        guard let room = rooms[roomName], let member = room.members[id], let pending = member.pending else {
            return
        }
        let isNewMember = !member.isVisible
        member.pending = nil
        member.isVisible = true
        // What the client has after this history: the replayed messages, and what it said it had
        // seen (but no more than the room held: a `since` from a database that was since
        // replaced must not hide the new messages).
        let claimed = min(since ?? 0, history.roomLastID)
        let replayedUpTo = max(history.messages.last?.id ?? 0, claimed, member.lastSentID)

        let members = room.members.values.filter(\.isVisible).map(\.nick.value)
            .sorted { $0.lowercased() < $1.lowercased() }
        let joined = ServerEvent.joined(
            room: roomName,
            nick: member.nick,
            members: members,
            session: connections[id]?.sessionToken,
            ref: ref
        )
        member.outbox.send(joined)
        member.outbox.send(ServerEvent.history(room: roomName, slice: history, ref: nil))
        metrics.messagesReplayed.increment(by: history.messages.count)
        member.lastSentID = replayedUpTo
        for (messageID, frame) in pending where messageID > member.lastSentID {
            member.outbox.send(frame)
            member.lastSentID = messageID
        }
        if isNewMember {
            broadcastPresence(room: roomName, nick: member.nick, event: "join", except: id)
        }
    }

    /// Undoes ``beginJoin(_:room:nick:resume:)`` when the history could not be read.
    public func abortJoin(_ id: ConnectionID, room roomName: RoomName) {
        guard let member = rooms[roomName]?.members[id], member.pending != nil else { return }
        if member.isVisible {
            // A rejoin of a room the member was already in: it stays in, and catches up on what
            // was collected meanwhile.
            let pending = member.pending ?? []
            member.pending = nil
            for (messageID, frame) in pending where messageID > member.lastSentID {
                member.outbox.send(frame)
                member.lastSentID = messageID
            }
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

    /// How many connections are in each room that has any.
    public func memberCounts() -> [RoomName: Int] {
        rooms.mapValues { room in room.members.values.count(where: \.isVisible) }
    }

    // MARK: Fan-out

    /// Sends committed messages to their rooms' members, in the order given (which is commit
    /// order, so ids ascend within each room), and acknowledges each to its sender. A `say` that
    /// repeated a stored `mid` is only acknowledged, with the id stored the first time.
    public func deliver(_ committed: [(result: AppendResult, ack: AckTarget)]) {
        // Frames are queued for everyone first and each writer is woken once at the end.
        var touched: [Member] = []
        var ackOutboxes: [Outbox] = []
        for (result, ack) in committed {
            let message = result.message
            if result.isNew, let room = rooms[message.room] {
                let frame = ServerEvent.message(message)
                var delivered = 0
                for member in room.members.values where !member.isHeld {
                    if member.pending != nil {
                        member.pending!.append((message.id, frame))
                    } else if message.id > member.lastSentID {
                        if !member.needsFlush {
                            member.needsFlush = true
                            touched.append(member)
                        }
                        member.outbox.enqueue(frame)
                        member.lastSentID = message.id
                        delivered += 1
                    }
                }
                metrics.messagesBroadcast.increment(by: delivered)
            }
            if let outbox = connections[ack.connection]?.outbox {
                outbox.enqueue(ServerEvent.ack(id: message.id, ref: ack.ref), settlingReply: true)
                ackOutboxes.append(outbox)
            }
        }
        for member in touched {
            member.needsFlush = false
            member.outbox.flush()
        }
        for outbox in ackOutboxes { outbox.flush() }
    }

    /// Tells each sender that its message could not be stored.
    public func reject(_ acks: [AckTarget], _ error: ChatError) {
        for ack in acks {
            connections[ack.connection]?.outbox.send(ServerEvent.error(error, ref: ack.ref), settlingReply: true)
        }
    }

    // MARK: Internals

    private func removeMember(_ id: ConnectionID, from roomName: RoomName) {
        guard let room = rooms[roomName], let member = room.members.removeValue(forKey: id) else { return }
        memberCount -= 1
        defer { recordSizes() }
        if room.members.isEmpty {
            rooms.removeValue(forKey: roomName)
        } else if member.isVisible {
            broadcastPresence(room: roomName, nick: member.nick, event: "leave", except: id)
        }
    }

    private func broadcastPresence(room roomName: RoomName, nick: Nick, event: String, except: ConnectionID) {
        guard let room = rooms[roomName] else { return }
        let frame = ServerEvent.presence(room: roomName, nick: nick, event: event)
        for (memberID, member) in room.members where memberID != except && member.pending == nil && !member.isHeld {
            member.outbox.send(frame)
        }
    }

    // MARK: Sessions

    private func openSession(nick: Nick, connection id: ConnectionID) -> String {
        sessions.open(nick: nick, connection: id).token
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
        if session.held.isEmpty {
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
        if session.liveConnection == nil { release(session) }
        recordSizes()
    }

    /// Ends a session: its held members leave and its nick becomes free.
    private func release(_ session: Session) {
        session.releaseTimer?.cancel()
        for (roomName, heldID) in session.held { removeMember(heldID, from: roomName) }
        session.held.removeAll()
        sessions.remove(session)
    }
}
