import Logging
import ParleyCore

/// The command router of one connection: decodes each text frame into a command, checks it
/// against the connection's state, and answers through the connection's outbox.
///
/// Commands of one connection run one at a time, in order. A `say` only queues its message for
/// the commit pipeline, so a client may have many in flight; its `ack` comes once it is stored.
public struct ChatSession: Sendable {
    public let connectionID: ConnectionID
    private let outbox: Outbox
    private let chat: ChatService
    private var nick: Nick?
    private var rooms = RoomSet()
    private var sayBucket: TokenBucket
    private var commandBucket: TokenBucket
    private var refusalsInARow = 0

    init(connectionID: ConnectionID, outbox: Outbox, chat: ChatService) {
        self.connectionID = connectionID
        self.outbox = outbox
        self.chat = chat
        let limits = chat.configuration.rateLimits
        sayBucket = TokenBucket(capacity: limits.sayBurst, perSecond: limits.sayPerSecond)
        commandBucket = TokenBucket(capacity: limits.commandBurst, perSecond: limits.commandPerSecond)
    }

    /// Handles one complete text message from the client. Once the connection is closing, what
    /// still arrives is ignored: nothing is accepted that could not be answered.
    public mutating func handle(_ text: String) async {
        guard !outbox.isClosing else { return }
        outbox.acceptCommand()
        // A `say` handed to the commit pipeline is answered (and settled) by its ack; every other
        // command has been answered by the time `dispatch` returns.
        if await dispatch(text) != .handedToPipeline { outbox.settleReply() }
    }

    /// Closes the connection for breaking a rule of the transport, once the commands accepted
    /// so far have been answered.
    public func close(_ reason: CloseReason) {
        outbox.closeAfterReplies(reason)
    }

    private enum Disposition { case answered, handedToPipeline }

    private mutating func dispatch(_ text: String) async -> Disposition {
        let decoded = ClientCommand.decode(text)
        // Every frame costs a token, malformed ones too (from the larger bucket).
        var isSay = false
        if case .success(.say) = decoded.command { isSay = true }
        if let wait = isSay ? sayBucket.take() : commandBucket.take() {
            refusalsInARow += 1
            if refusalsInARow >= chat.configuration.rateLimits.maxRefusalsInARow {
                chat.logger.notice(
                    "Closing a connection that keeps flooding",
                    metadata: ["parley.connection": "\(connectionID)"]
                )
                outbox.closeAfterReplies(.flooding)
                chat.metrics.rateLimitDisconnects.increment()
                return .answered
            }
            chat.metrics.rateLimitRefusals.increment()
            let error = ChatError(.rateLimited, "Too many commands; slow down.", retryAfter: wait)
            outbox.send(ServerEvent.error(error, ref: decoded.ref))
            return .answered
        }
        refusalsInARow = 0
        switch decoded.command {
        case .failure(let error):
            outbox.send(ServerEvent.error(error, ref: decoded.ref))
        case .success(let command):
            do throws(ChatError) {
                return try await run(command, ref: decoded.ref)
            } catch {
                outbox.send(ServerEvent.error(error, ref: decoded.ref))
            }
        }
        return .answered
    }

    private mutating func run(_ command: ClientCommand, ref: String?) async throws(ChatError) -> Disposition {
        switch command {
        case .join(let room, let requestedNick, let since, let resume):
            try await join(room, nick: requestedNick, since: since, resume: resume, ref: ref)
        case .say(let room, let text, let mid):
            guard let nick, rooms.contains(room) else {
                throw ChatError(.notInRoom, "Join \(room.value) before saying something there.")
            }
            let maxLength = chat.configuration.maxTextLength
            guard text.value.unicodeScalars.count <= maxLength else {
                throw ChatError(.tooLarge, "A message may have at most \(maxLength) characters.")
            }
            let accepted = await chat.pipeline.submit(
                room: room,
                nick: nick,
                text: text,
                mid: mid,
                ack: AckTarget(connection: connectionID, ref: ref)
            )
            if !accepted { throw ChatError(.unavailable, "The server is shutting down.") }
            return .handedToPipeline
        case .leave(let room):
            try await chat.hub.leave(connectionID, room: room, ref: ref)
            rooms.remove(room)
        case .history(let room, let page):
            if let event = await chat.hub.recentHistory(of: room, page, ref: ref) {
                outbox.send(event)
            } else {
                let slice = try await readHistory(room, page)
                outbox.send(ServerEvent.history(room: room, slice: slice, ref: ref))
            }
        case .search(let room, let page):
            let slice: HistorySlice
            do {
                slice = try await chat.store.search(in: room, page)
            } catch {
                chat.logger.warning("Searching \(room.value) failed: \(error)")
                throw ChatError(.unavailable, "Search is not available right now; try again shortly.")
            }
            outbox.send(ServerEvent.searchResults(room: room, query: page.query.text, slice: slice, ref: ref))
        case .ping:
            outbox.send(ServerEvent.pong(ref: ref))
        }
        return .answered
    }

    private mutating func join(
        _ room: RoomName,
        nick requestedNick: Nick?,
        since: Int64?,
        resume: String?,
        ref: String?
    ) async throws(ChatError) {
        let claimedSession = try await openSessionInDirectory(nick: requestedNick, resume: resume)
        let joined: Nick
        do throws(ChatError) {
            joined = try await chat.hub.beginJoin(
                connectionID,
                room: room,
                nick: requestedNick,
                resume: resume,
                claimedSession: claimedSession
            )
        } catch {
            if claimedSession != nil, let requestedNick { chat.directory?.release(requestedNick) }
            throw error
        }
        nick = joined
        do throws(ChatError) {
            try await chat.directory?.enter(room, nick: joined)
        } catch {
            await chat.hub.abortJoin(connectionID, room: room)
            throw error
        }
        let replayed = since != nil || chat.configuration.historyOnJoin > 0
        let page: HistoryPage =
            if let since {
                .after(id: since, limit: ProtocolLimits.maxSinceReplay)
            } else {
                .latest(limit: chat.configuration.historyOnJoin)
            }
        let fromMemory = await chat.hub.completeJoinFromMemory(
            connectionID,
            room: room,
            page: replayed ? page : nil,
            ref: ref
        )
        guard case .readTheStore(let generation) = fromMemory else {
            rooms.insert(room)
            return
        }
        // Without history to replay, the read still tells where the room stands: live
        // messages follow on from its newest id.
        var slice: HistorySlice
        do throws(ChatError) {
            slice = try await readHistory(room, page)
        } catch {
            await chat.hub.abortJoin(connectionID, room: room)
            throw error
        }
        if !replayed { slice = HistorySlice(messages: [], truncated: false, roomLastID: slice.roomLastID) }
        await chat.hub.completeJoin(
            connectionID,
            room: room,
            history: slice,
            page: replayed ? page : nil,
            generation: generation,
            ref: ref
        )
        rooms.insert(room)
    }

    /// In a cluster, before a join opens a session: resumes the session `resume` names from
    /// whichever node had it, or else claims `nick` for a new session.
    /// - Returns: the resume token of the new session claimed for `nick`, if one was.
    private func openSessionInDirectory(nick: Nick?, resume: String?) async throws(ChatError) -> String? {
        guard let directory = chat.directory, await chat.hub.opensSession(connectionID, resume: resume) else {
            return nil
        }
        if let resume, let resumed = try await directory.resume(resume) {
            try await chat.hub.adopt(connectionID, token: resume, resumed, requested: nick)
            return nil
        }
        guard let nick else { return nil }  // the hub explains what is missing
        let token = ChatHub.Session.makeToken()
        try await directory.claim(nick, session: token)
        return token
    }

    private func readHistory(_ room: RoomName, _ page: HistoryPage) async throws(ChatError) -> HistorySlice {
        do {
            return try await chat.store.history(of: room, page)
        } catch {
            chat.logger.warning("Reading history of \(room.value) failed: \(error)")
            throw ChatError(.unavailable, "History cannot be read right now; try again shortly.")
        }
    }
}
