/// Errors the store reports in terms an operator can act on.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    /// The database file does not exist and the store may not create it.
    case missingDatabase(path: String)
    /// The database was written by a newer Parley: its schema has migrations this binary lacks.
    case newerSchema(path: String)
    /// A read-only open found migrations not yet applied (the server upgrades on start).
    case olderSchema(path: String)
    /// The folder the database should be created in does not exist.
    case missingFolder(path: String, folder: String)
    /// The file exists but is not an SQLite database (or is encrypted or damaged).
    case notADatabase(path: String)
    /// The file cannot be opened or created, for the reason SQLite or the system gave.
    case cannotOpen(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingDatabase(let path):
            "no database at \(path)"
        case .newerSchema(let path):
            "the database at \(path) was created by a newer version of Parley; upgrade this binary"
        case .olderSchema(let path):
            "the database at \(path) has not been upgraded to this version of Parley yet; start `parley serve` once to upgrade it"
        case .missingFolder(let path, let folder):
            "cannot create the database \(path): the folder \(folder) does not exist"
        case .notADatabase(let path):
            "\(path) is not a Parley database (not SQLite, or encrypted or damaged); give --db another file"
        case .cannotOpen(let path, let reason):
            "cannot open the database \(path): \(reason)"
        }
    }
}
