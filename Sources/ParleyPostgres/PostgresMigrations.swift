import Foundation
import Logging
public import PostgresNIO

/// The PostgreSQL schema: the SQL files of `Migrations/postgres/`, compiled into the binary by the
/// `EmbedMigrations` build plugin and applied in file-name order.
///
/// Nodes of a cluster start together, so migrating takes an advisory lock first: one node applies
/// what is missing, the others wait and then find nothing to do. Each file runs in its own
/// transaction and is recorded in `parley_migrations`.
public enum PostgresMigrations {
    /// The embedded migrations, in file-name order: (file name without `.sql`, SQL).
    static let embedded: [(identifier: String, sql: String)] = embeddedFiles.map { file in
        let identifier = file.path.hasSuffix(".sql") ? String(file.path.dropLast(4)) : file.path
        return (identifier, String(decoding: Data(base64Encoded: file.base64) ?? Data(), as: UTF8.self))
    }

    /// Identifiers of every migration this binary knows, in order.
    public static var identifiers: [String] { embedded.map(\.identifier) }

    /// An arbitrary constant: the advisory lock every Parley node takes to migrate.
    static let lockKey: Int64 = 0x7061_726c_6579  // "parley"

    /// Applies the migrations `client`'s database lacks; returns the identifiers applied.
    @discardableResult
    public static func migrate(_ client: PostgresClient, logger: Logger) async throws -> [String] {
        try await client.withConnection { connection in try await migrate(connection, logger: logger) }
    }

    /// Applies the migrations the database of `connection` lacks; returns the identifiers applied.
    @discardableResult
    public static func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> [String] {
        try await connection.query("SELECT pg_advisory_lock(\(lockKey))", logger: logger)
        do {
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS parley_migrations (identifier text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger
            )
            var applied: Set<String> = []
            for try await identifier in try await connection.query(
                "SELECT identifier FROM parley_migrations",
                logger: logger
            ).decode(String.self) {
                applied.insert(identifier)
            }
            let unknown = applied.subtracting(identifiers)
            if !unknown.isEmpty {
                throw PostgresStoreError.newerSchema(migrations: unknown.sorted())
            }
            var done: [String] = []
            for migration in embedded where !applied.contains(migration.identifier) {
                // One transaction per file, with its record. The extended protocol takes one
                // statement at a time, so the file is split (function bodies kept whole).
                try await connection.query("BEGIN", logger: logger)
                for statement in statements(in: migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO parley_migrations (identifier) VALUES (\(migration.identifier))",
                    logger: logger
                )
                try await connection.query("COMMIT", logger: logger)
                done.append(migration.identifier)
                logger.info("Applied PostgreSQL migration \(migration.identifier)")
            }
            try await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
            return done
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
            throw error
        }
    }
}

/// The statements of an SQL file: split at semicolons outside quotes (`'…'`, `"…"`),
/// dollar-quoted bodies (`$$…$$`, `$tag$…$tag$`) and comments.
func statements(in sql: String) -> [String] {
    var statements: [String] = []
    var current = ""
    var index = sql.startIndex
    func rest(from index: String.Index) -> Substring { sql[index...] }
    while index < sql.endIndex {
        let character = sql[index]
        if character == "-", rest(from: index).hasPrefix("--") {
            let end = sql[index...].firstIndex(of: "\n") ?? sql.endIndex
            index = end
            continue
        }
        if character == "'" || character == "\"" {
            let end = sql[sql.index(after: index)...].firstIndex(of: character) ?? sql.endIndex
            let stop = end < sql.endIndex ? sql.index(after: end) : end
            current += sql[index..<stop]
            index = stop
            continue
        }
        if character == "$", let close = sql[sql.index(after: index)...].firstIndex(of: "$"),
            sql[sql.index(after: index)..<close].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
        {
            let tag = sql[index...close]
            let bodyStart = sql.index(after: close)
            let end = sql[bodyStart...].range(of: tag)?.upperBound ?? sql.endIndex
            current += sql[index..<end]
            index = end
            continue
        }
        if character == ";" {
            let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
            if !statement.isEmpty { statements.append(statement) }
            current = ""
        } else {
            current.append(character)
        }
        index = sql.index(after: index)
    }
    let last = current.trimmingCharacters(in: .whitespacesAndNewlines)
    if !last.isEmpty { statements.append(last) }
    return statements
}

/// Errors of the PostgreSQL store in terms an operator can act on.
public enum PostgresStoreError: Error, CustomStringConvertible, Equatable {
    /// The database holds migrations this binary does not know: a newer Parley wrote it.
    case newerSchema(migrations: [String])
    /// The database cannot be reached or refuses the login, for PostgreSQL's `reason`.
    case unusable(url: String, reason: String)
    /// The database has no Parley tables, and the command only reads.
    case notMigrated(url: String)

    public var description: String {
        switch self {
        case .newerSchema(let migrations):
            "the PostgreSQL database was migrated by a newer version of Parley (\(migrations.joined(separator: ", "))); upgrade this binary"
        case .unusable(let url, let reason):
            "cannot use the PostgreSQL database \(url): \(reason)"
        case .notMigrated(let url):
            "the PostgreSQL database \(url) has no Parley tables yet; start a node on it or import into it"
        }
    }

    /// PostgreSQL's own message when there is one (wrong password, unknown database), else the
    /// driver's.
    public static func reason(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            if let underlying = error.underlying { return "\(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }
}
