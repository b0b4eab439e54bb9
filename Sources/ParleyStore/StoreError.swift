/// Errors the store reports in terms an operator can act on.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    /// The database file does not exist and the store may not create it.
    case missingDatabase(path: String)
    /// The database was written by a newer Parley: its schema has migrations this binary lacks.
    case newerSchema(path: String)
    /// A read-only open found migrations not yet applied (the server upgrades on start).
    case olderSchema(path: String)

    public var description: String {
        switch self {
        case .missingDatabase(let path):
            "no database at \(path)"
        case .newerSchema(let path):
            "the database at \(path) was created by a newer version of Parley; upgrade this binary"
        case .olderSchema(let path):
            "the database at \(path) has not been upgraded to this version of Parley yet; start `parley serve` once to upgrade it"
        }
    }
}
