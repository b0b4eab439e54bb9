public import ArgumentParser
import Foundation
import Logging
public import ParleyAdmin
import ParleyCore
import ParleyPostgres
import ParleyStore

/// `--db`, shared by every command, with the same default and variable as `parley serve`.
struct DatabaseOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "SQLite database file, or a cluster's postgres://USER[:PASS]@HOST[:PORT]/DBNAME. (env: PARLEY_DB; default: ./parley.sqlite)",
            valueName: "file-or-url"
        )
    )
    var db: String?

    var path: String { db ?? EnvironmentFallback().string("PARLEY_DB") ?? "parley.sqlite" }

    /// Opens the archive: read-only for commands that only read, so they never write to a
    /// database a server is using (and a missing file, or a PostgreSQL database without
    /// Parley's tables, is an error, not a new empty database).
    func archive(readOnly: Bool, mayCreate: Bool = false) async throws -> any MessageArchive {
        if PostgresDatabaseURL.isPostgres(path) {
            do {
                let url = try PostgresDatabaseURL(path)
                var logger = Logger(label: "parley.admin")
                logger.logLevel = .critical
                return try await PostgresMessageArchive.open(url, migrate: mayCreate, logger: logger)
            } catch let error as PostgresStoreError {
                throw CommandError(error.description)
            } catch {
                throw CommandError("\(error)")
            }
        }
        if !mayCreate && !FileManager.default.fileExists(atPath: path) {
            throw CommandError(StoreError.missingDatabase(path: path).description + " (set --db or PARLEY_DB)")
        }
        do {
            return SQLiteMessageArchive(store: try SQLiteMessageStore(path: path, options: .init(readOnly: readOnly)))
        } catch let error as StoreError {
            throw CommandError(error.description)
        } catch {
            throw CommandError("cannot open \(path): \(error)")
        }
    }
}

/// `--format`.
extension OutputFormat: ExpressibleByArgument {}

/// The filters of `history` and `export`; they combine.
struct FilterOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Only this room (all rooms when omitted).")
    var room: String?

    @Option(help: ArgumentHelp("Only messages with an id above N (ids are per room).", valueName: "N"))
    var afterId: Int64?

    @Option(help: ArgumentHelp("Only messages with an id below N.", valueName: "N"))
    var beforeId: Int64?

    @Option(
        help: ArgumentHelp(
            "Only messages from this time on: ISO 8601, a date, a time ago (2h, 3d) or today/yesterday [HH:MM].",
            valueName: "time"
        )
    )
    var since: String?

    @Option(help: ArgumentHelp("Only messages before this time (same forms as --since).", valueName: "time"))
    var until: String?

    @Option(help: "Only messages by this nick (case-insensitive).")
    var nick: String?

    @Option(
        help: ArgumentHelp(
            "Full-text search: words (all must occur), \"a phrase\", prefix*, OR, NOT.",
            valueName: "query"
        )
    )
    var grep: String?

    /// The filter, checked against the archive: an unknown room is an error with suggestions.
    func filter(in archive: any MessageArchive, now: Date = Date()) async throws -> MessageFilter {
        var filter = MessageFilter()
        if let room { filter.room = try await Self.existingRoom(room, in: archive) }
        filter.afterID = afterId
        filter.beforeID = beforeId
        do {
            filter.since = try since.map { try TimeExpression($0, now: now).milliseconds }
            filter.until = try until.map { try TimeExpression($0, now: now).milliseconds }
        } catch let error as TimeExpression.Invalid {
            throw CommandError(error.description)
        }
        if let nick {
            guard let valid = Nick(nick) else { throw CommandError("invalid nick \"\(nick)\"") }
            filter.nick = valid
        }
        if let grep {
            guard let query = SearchQuery(grep) else {
                throw CommandError("--grep \"\(grep)\" holds no word to search for")
            }
            filter.search = query
        }
        return filter
    }

    /// The room named `raw`, which must exist: otherwise an error that suggests similar names.
    static func existingRoom(_ raw: String, in archive: any MessageArchive) async throws -> RoomName {
        guard let name = RoomName(raw) else {
            throw CommandError("invalid room name \"\(raw)\": letters, digits, _ and -, up to 64")
        }
        let known = try await archive.roomNames()
        guard known.contains(name.value) else {
            let close = Suggestion.closest(to: name.value, among: known)
            let hint =
                close.isEmpty
                ? (known.isEmpty ? "the database has no rooms yet" : "see `parley rooms`")
                : "did you mean " + close.map { "\"\($0)\"" }.joined(separator: " or ") + "?"
            throw CommandError("no room named \"\(name.value)\"; \(hint)")
        }
        return name
    }
}

/// A failure to report as one line (`Error: …`) with exit code 1.
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Standard output without buffering surprises: every write goes out at once, so `--follow`
/// output reaches a pipe when it happens.
enum StandardOutput {
    static func write(_ text: String) {
        guard !text.isEmpty else { return }
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
