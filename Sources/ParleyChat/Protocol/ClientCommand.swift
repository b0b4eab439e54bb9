import Foundation
public import ParleyCore

/// A command from a client, validated field by field. Session state (is the client in the room,
/// is the nick free) is checked later by ``ChatSession``.
public enum ClientCommand: Equatable, Sendable {
    case join(room: RoomName, nick: Nick?, since: Int64?, resume: String? = nil)
    case say(room: RoomName, text: MessageText, mid: String?)
    case leave(room: RoomName)
    case history(room: RoomName, page: HistoryPage)
    case search(room: RoomName, page: SearchPage)
    case ping
}

/// One decoded frame: the command, or the error to answer it with, and the `ref` to echo.
public struct DecodedCommand: Sendable {
    public var ref: String?
    public var command: Result<ClientCommand, ChatError>
}

/// Limits of protocol v1 that the decoder enforces.
public enum ProtocolLimits {
    /// The longest `ref`, in Unicode scalars.
    public static let maxRefLength = 64
    /// The most messages one `history` command may ask for, and its default.
    public static let maxHistoryLimit = 200
    public static let defaultHistoryLimit = 50
    /// The most messages replayed after `since` in the `history` event that follows `joined`.
    public static let maxSinceReplay = 1000
    /// The longest session token a `resume` may carry (the server's own are 32 characters).
    public static let maxSessionTokenLength = 128
}

extension ClientCommand {
    /// Decodes one text frame. Never throws: every input yields a command or an error to send.
    public static func decode(_ text: String) -> DecodedCommand {
        var raw: RawCommand
        do {
            // The flat objects clients send are read by a small scanner; anything it is not sure
            // of (nesting, floats, a mistyped field) goes to JSONDecoder, which also words the
            // error. The scanner made decoding a `say` several times cheaper.
            raw = try FlatCommandScanner.scan(text) ?? JSONDecoder().decode(RawCommand.self, from: Data(text.utf8))
        } catch {
            return DecodedCommand(
                ref: nil,
                command: .failure(.badRequest("A command must be one JSON object, like {\"type\":\"ping\"}."))
            )
        }
        if let problem = raw.refProblem {
            return DecodedCommand(ref: nil, command: .failure(.badRequest(problem)))
        }
        return DecodedCommand(ref: raw.ref, command: Result { () throws(ChatError) in try raw.command() })
    }
}

/// Every field any command may carry, each decoded on its own so that one mistyped field is
/// reported by name and the `ref` can still be echoed.
struct RawCommand: Decodable, Equatable {
    enum Key: String, CodingKey {
        case type, ref, room, nick, since, text, before, after, limit, mid, resume, query
    }

    var type: String?
    var ref: String?
    var room: String?
    var nick: String?
    var text: String?
    var since: Int64?
    var before: Int64?
    var after: Int64?
    var limit: Int?
    var mid: String?
    var resume: String?
    var query: String?
    var refProblem: String?
    var fieldProblem: String?

    init() {}

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        do {
            ref = try container.decodeIfPresent(String.self, forKey: .ref)
            if let ref, ref.unicodeScalars.count > ProtocolLimits.maxRefLength {
                self.ref = nil
                refProblem = "ref must be at most \(ProtocolLimits.maxRefLength) characters."
            }
        } catch {
            refProblem = "ref must be a string."
        }
        type = decodeField(container, .type, as: String.self, kind: "a string")
        room = decodeField(container, .room, as: String.self, kind: "a string")
        nick = decodeField(container, .nick, as: String.self, kind: "a string")
        text = decodeField(container, .text, as: String.self, kind: "a string")
        since = decodeField(container, .since, as: Int64.self, kind: "an integer")
        before = decodeField(container, .before, as: Int64.self, kind: "an integer")
        after = decodeField(container, .after, as: Int64.self, kind: "an integer")
        limit = decodeField(container, .limit, as: Int.self, kind: "an integer")
        mid = decodeField(container, .mid, as: String.self, kind: "a string")
        resume = decodeField(container, .resume, as: String.self, kind: "a string")
        query = decodeField(container, .query, as: String.self, kind: "a string")
    }

    private mutating func decodeField<T: Decodable>(
        _ container: KeyedDecodingContainer<Key>,
        _ key: Key,
        as type: T.Type,
        kind: String
    ) -> T? {
        do {
            return try container.decodeIfPresent(T.self, forKey: key)
        } catch {
            if fieldProblem == nil { fieldProblem = "\(key.stringValue) must be \(kind)." }
            return nil
        }
    }

    func command() throws(ChatError) -> ClientCommand {
        guard let type else {
            throw ChatError.badRequest(fieldProblem ?? "Every command needs a \"type\".")
        }
        if let fieldProblem { throw ChatError.badRequest(fieldProblem) }
        switch type {
        case "join":
            let room = try requireRoom()
            var validNick: Nick?
            if let nick {
                guard let parsed = Nick(nick) else {
                    throw ChatError(
                        .invalidNick,
                        "A nick is 1-\(Nick.maxLength) letters, digits, \"_\" or \"-\"."
                    )
                }
                validNick = parsed
            }
            if let since, since < 0 { throw ChatError.badRequest("since must be 0 or more.") }
            if let resume {
                let scalars = resume.unicodeScalars
                guard (1...ProtocolLimits.maxSessionTokenLength).contains(scalars.count),
                    scalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F })
                else {
                    throw ChatError.badRequest(
                        "resume must be the session token of an earlier joined reply."
                    )
                }
            }
            return .join(room: room, nick: validNick, since: since, resume: resume)
        case "say":
            let room = try requireRoom()
            guard let text else { throw ChatError.badRequest("say needs a \"text\".") }
            if let mid, ClientMessageID(mid) == nil {
                throw ChatError.badRequest("mid must be \(ClientMessageID.rule).")
            }
            switch MessageText.validate(text) {
            case .success(let valid):
                return .say(room: room, text: valid, mid: mid)
            case .failure(.tooLong):
                throw ChatError(.tooLarge, "A message may have at most \(MessageText.maxLength) characters.")
            case .failure(.empty), .failure(.blank):
                throw ChatError(.invalidText, "A message cannot be empty or blank.")
            case .failure(.controlCharacter):
                throw ChatError(.invalidText, "A message cannot contain control characters other than newline and tab.")
            }
        case "leave":
            return .leave(room: try requireRoom())
        case "history":
            let room = try requireRoom()
            return .history(room: room, page: try HistoryPage.requested(before: before, after: after, limit: limit))
        case "search":
            let room = try requireRoom()
            return .search(room: room, page: try SearchPage.requested(query: query, before: before, limit: limit))
        case "ping":
            return .ping
        default:
            throw ChatError.badRequest("Unknown command type. Known types: join, say, leave, history, search, ping.")
        }
    }

    private func requireRoom() throws(ChatError) -> RoomName {
        guard let room else { throw ChatError.badRequest("This command needs a \"room\".") }
        guard let valid = RoomName(room) else { throw ChatError.invalidRoomName }
        return valid
    }
}

extension HistoryPage {
    /// The page a history request asks for, by the rules of protocol v1 (the WebSocket `history`
    /// command and `GET /api/rooms/{room}/messages` alike): the newest `limit` messages (1-200,
    /// default 50), or those before or after an id (0 or more), not both.
    public static func requested(before: Int64?, after: Int64?, limit: Int?) throws(ChatError) -> HistoryPage {
        let limit = limit ?? ProtocolLimits.defaultHistoryLimit
        guard (1...ProtocolLimits.maxHistoryLimit).contains(limit) else {
            throw ChatError.badRequest("limit must be between 1 and \(ProtocolLimits.maxHistoryLimit).")
        }
        switch (before, after) {
        case (nil, nil):
            return .latest(limit: limit)
        case (let before?, nil):
            guard before >= 0 else { throw ChatError.badRequest("before must be 0 or more.") }
            return .before(id: before, limit: limit)
        case (nil, let after?):
            guard after >= 0 else { throw ChatError.badRequest("after must be 0 or more.") }
            return .after(id: after, limit: limit)
        case (_?, _?):
            throw ChatError.badRequest("A history request takes \"before\" or \"after\", not both.")
        }
    }
}

extension SearchPage {
    /// The page a search asks for, by the rules of protocol v1 (the WebSocket `search` command and
    /// `GET /api/rooms/{room}/search` alike): the newest `limit` matches (1-50, default 20) of
    /// `query`, in the syntax of `parley history --grep`, optionally before an id.
    public static func requested(query: String?, before: Int64?, limit: Int?) throws(ChatError) -> SearchPage {
        guard let query else { throw ChatError.badRequest("A search needs a \"query\".") }
        guard query.unicodeScalars.count <= maxQueryLength else {
            throw ChatError.badRequest("A search query may have at most \(maxQueryLength) characters.")
        }
        guard let parsed = SearchQuery(query) else {
            throw ChatError.badRequest("A search query needs at least one word (letters or digits).")
        }
        let limit = limit ?? defaultLimit
        guard (1...maxLimit).contains(limit) else {
            throw ChatError.badRequest("limit must be between 1 and \(maxLimit).")
        }
        if let before, before < 0 { throw ChatError.badRequest("before must be 0 or more.") }
        return SearchPage(query: parsed, before: before, limit: limit)
    }

    /// The longest query, in Unicode scalars: longer ones are not searches people type.
    public static let maxQueryLength = 200
}
