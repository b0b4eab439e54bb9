import Foundation
public import GRDB

/// The database schema: the SQL files of the top-level `Migrations/` folder, compiled into the
/// binary by the `EmbedMigrations` build plugin and applied in file-name order.
///
/// Applied migrations are recorded in the `grdb_migrations` table, so migrating a database that
/// is already up to date does nothing, and a later migration applies to an existing database
/// without touching its data.
public enum ParleyMigrations {
    /// Identifiers of every migration this binary knows, in order (file names without `.sql`).
    public static var identifiers: [String] { embedded.map(\.identifier) }

    /// The embedded migrations, in file-name order: (file name without `.sql`, SQL).
    static let embedded: [(identifier: String, sql: String)] = embeddedFiles.map { file in
        let identifier = file.path.hasSuffix(".sql") ? String(file.path.dropLast(4)) : file.path
        return (identifier, String(decoding: Data(base64Encoded: file.base64) ?? Data(), as: UTF8.self))
    }

    /// A migrator that applies the embedded migrations.
    public static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in embedded {
            migrator.registerMigration(migration.identifier) { db in
                try db.execute(sql: migration.sql)
            }
        }
        return migrator
    }
}
