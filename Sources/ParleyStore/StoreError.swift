/// Errors the store reports in terms an operator can act on.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    /// The database file does not exist and the store may not create it.
    case missingDatabase(path: String)
    /// The database was written by a newer Parley: its schema has migrations this binary lacks.
    case newerSchema(path: String)

    public var description: String {
        switch self {
        case .missingDatabase(let path):
            "no database at \(path)"
        case .newerSchema(let path):
            "the database at \(path) was created by a newer version of Parley; upgrade this binary"
        }
    }
}
