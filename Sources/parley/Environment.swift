import Foundation

/// Reads the `PARLEY_*` environment variables that stand in for command-line options.
struct EnvironmentFallback {
    var values: [String: String] = ProcessInfo.processInfo.environment

    func string(_ name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    func integer(_ name: String) throws -> Int? {
        guard let raw = string(name) else { return nil }
        guard let value = Int(raw) else {
            throw EnvironmentError(message: "\(name) must be a whole number, not \"\(raw)\"")
        }
        return value
    }
}

struct EnvironmentError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
