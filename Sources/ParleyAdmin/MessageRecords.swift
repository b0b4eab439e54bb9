public import Foundation
public import ParleyCore

/// Messages as the admin commands write and read them.
///
/// One exported line is `{"room":"general","id":1,"nick":"bob","ts":"2026-11-26T13:30:00.123Z","text":"hi"}`:
/// the fields of a protocol `message` event, in a fixed order. `parley import` reads the same
/// lines back (other fields, such as `"type"`, are ignored).
public enum MessageRecords {
    public static func record(_ message: ArchivedMessage) -> Record {
        Record([
            ("room", .string(message.room)),
            ("id", .integer(message.id)),
            ("nick", .string(message.nick)),
            ("ts", .string(Timestamp.iso8601(milliseconds: message.createdAt))),
            ("text", .string(message.text)),
        ])
    }

    /// An export line: the record, plus the sender's `mid` when there is one (so a client's
    /// retry stays idempotent in a database rebuilt from the export).
    public static func exportLine(_ message: ArchivedMessage) -> String {
        var record = record(message)
        if let mid = message.mid { record.fields.append(("mid", .string(mid))) }
        return record.json + "\n"
    }

    public static let csvHeader = CSV.line(["room", "id", "nick", "ts", "text"])

    /// The table's columns; the room column only when messages of several rooms may be shown.
    public static func columns(showRoom: Bool) -> [TextTable.Column] {
        var columns = [TextTable.Column("TIME", style: "2")]
        if showRoom { columns.append(TextTable.Column("ROOM", style: "36")) }
        columns += [
            TextTable.Column("ID", alignRight: true, style: "2"),
            TextTable.Column("NICK"),
            TextTable.Column("TEXT", flexible: true),
        ]
        return columns
    }

    /// A writer for messages in `format`; times in the table are local (`timeZone`).
    public static func writer(
        format: OutputFormat,
        terminal: Terminal,
        showRoom: Bool,
        timeZone: TimeZone = .current
    ) -> RecordWriter {
        let formatter = LocalTime(timeZone: timeZone)
        return RecordWriter(format: format, terminal: terminal, columns: columns(showRoom: showRoom)) { record in
            let values = Dictionary(uniqueKeysWithValues: record.fields.map { ($0.name, $0.value) })
            func text(_ name: String) -> String {
                switch values[name] {
                case .string(let value)?: value
                case .integer(let value)?: String(value)
                default: ""
                }
            }
            let time = Timestamp.milliseconds(iso8601: text("ts")).map(formatter.string) ?? text("ts")
            var cells = [time]
            var styles: [String?] = [nil]
            if showRoom {
                cells.append(text("room"))
                styles.append(nil)
            }
            cells += [text("id"), text("nick"), text("text")]
            styles += [nil, Terminal.nickStyle(text("nick")), nil]
            return (cells, styles)
        }
    }

    /// Parses and validates one line of an import file (`number` is 1-based, for errors).
    public static func parse(line: Data, number: Int) throws(ImportError) -> ArchivedMessage {
        struct Line: Decodable {
            var room: String
            var id: Int64
            var nick: String
            var ts: String
            var text: String
            var mid: String?
        }
        let decoded: Line
        do {
            decoded = try JSONDecoder().decode(Line.self, from: line)
        } catch let DecodingError.keyNotFound(key, _) {
            throw ImportError(line: number, reason: "the field \"\(key.stringValue)\" is missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let field = context.codingPath.first?.stringValue ?? "value"
            throw ImportError(line: number, reason: "the field \"\(field)\" has the wrong type")
        } catch {
            throw ImportError(line: number, reason: "not a JSON object")
        }
        guard let room = RoomName(decoded.room) else {
            throw ImportError(line: number, reason: "invalid room name \"\(decoded.room)\"")
        }
        guard decoded.id > 0 else { throw ImportError(line: number, reason: "the id must be 1 or more") }
        guard let nick = Nick(decoded.nick) else {
            throw ImportError(line: number, reason: "invalid nick \"\(decoded.nick)\"")
        }
        guard case .success(let text) = MessageText.validate(decoded.text) else {
            throw ImportError(line: number, reason: "invalid text (empty, blank, too long or with control characters)")
        }
        guard let createdAt = Timestamp.milliseconds(iso8601: decoded.ts) else {
            throw ImportError(line: number, reason: "invalid ts \"\(decoded.ts)\" (expected 2026-11-26T13:30:00.123Z)")
        }
        if let mid = decoded.mid, ClientMessageID(mid) == nil {
            throw ImportError(line: number, reason: "invalid mid (\(ClientMessageID.rule))")
        }
        return ArchivedMessage(
            room: room.value,
            id: decoded.id,
            nick: nick.value,
            text: text.value,
            createdAt: createdAt,
            mid: decoded.mid
        )
    }
}

/// `2026-11-26 14:30:05` in a given time zone: how tables show times.
public struct LocalTime {
    private let formatter: DateFormatter

    public init(timeZone: TimeZone = .current) {
        formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = timeZone
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
    }

    public func string(_ milliseconds: Int64) -> String {
        formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    /// A record value as a table cell: a timestamp in local time, null as "-".
    public func cell(_ value: FieldValue) -> String {
        switch value {
        case .null: "-"
        case .integer(let number): String(number)
        case .string(let text): Timestamp.milliseconds(iso8601: text).map(string) ?? text
        }
    }
}
