import ParleyCore

/// The sessions of the chat and the nicks they hold: who owns which nick (case-folded), and
/// which nick a join may claim.
///
/// A value type owned by ``ChatHub``; ``claim(current:requested:resume:)`` decides a join's nick
/// from the table alone, so its rules are testable without the actor.
struct SessionTable {
    private var sessions: [String: ChatHub.Session] = [:]
    /// Case-folded nick → the token of the session that holds it.
    private var nickOwners: [String: String] = [:]

    /// What a join's nick turns out to be.
    enum Claim {
        /// The connection's own nick (it has joined before).
        case current(Nick)
        /// The nick of an earlier session the join resumes.
        case resume(ChatHub.Session)
        /// A nick nobody holds: a new session will hold it.
        case new(Nick)

        var nick: Nick {
            switch self {
            case .current(let nick), .new(let nick): nick
            case .resume(let session): session.nick
            }
        }
    }

    /// The nick a join claims: the connection's `current` one, a session's by `resume` token
    /// (only on a connection's first join: a client that sends it with every join of a
    /// reconnect must not be refused because the first one opened a new session), or a
    /// `requested` one nobody holds.
    func claim(current: Nick?, requested: Nick?, resume: String?) throws(ChatError) -> Claim {
        if let current {
            if let requested, requested != current {
                throw ChatError.badRequest(
                    "This connection's nick is \(current.value); a nick cannot change while connected."
                )
            }
            return .current(current)
        }
        if let resume, let session = sessions[resume] {
            if let requested, requested.key != session.nick.key {
                throw ChatError.badRequest(
                    "The session to resume belongs to \(session.nick.value), not \(requested.value)."
                )
            }
            return .resume(session)
        }
        guard let requested else {
            throw ChatError.badRequest(
                resume == nil
                    ? "The first join of a connection needs a \"nick\"."
                    : "The session to resume has expired; join with a \"nick\"."
            )
        }
        if nickOwners[requested.key] != nil {
            throw ChatError(.nickTaken, "The nick \(requested.value) is in use; pick another.")
        }
        return .new(requested)
    }

    subscript(token: String) -> ChatHub.Session? { sessions[token] }

    var all: Dictionary<String, ChatHub.Session>.Values { sessions.values }

    /// The session that holds the nick with case-folded `key`.
    func session(forKey key: String) -> ChatHub.Session? {
        nickOwners[key].flatMap { sessions[$0] }
    }

    /// Opens a session that holds `nick` for connection `id`, with resume token `token`.
    mutating func open(
        nick: Nick,
        connection id: ConnectionID,
        token: String = ChatHub.Session.makeToken()
    ) -> ChatHub.Session {
        let session = ChatHub.Session(token: token, nick: nick, liveConnection: id)
        sessions[session.token] = session
        nickOwners[nick.key] = session.token
        return session
    }

    /// Forgets a session; its nick becomes free.
    mutating func remove(_ session: ChatHub.Session) {
        sessions.removeValue(forKey: session.token)
        if nickOwners[session.nick.key] == session.token { nickOwners.removeValue(forKey: session.nick.key) }
    }
}
