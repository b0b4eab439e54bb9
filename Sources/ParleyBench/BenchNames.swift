/// The names a benchmark run gives its rooms and nicks: a prefix the operator can recognise
/// (`bench-` unless told otherwise), then a random run id, so that a run never lands in a real
/// room and two runs never share one.
public struct BenchNames: Sendable {
    /// The default prefix of every room a run creates.
    public static let defaultRoomPrefix = "bench-"

    public let roomPrefix: String
    public let runID: String

    public init(roomPrefix: String = BenchNames.defaultRoomPrefix) {
        self.roomPrefix = roomPrefix
        runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    }

    /// `bench-1x2y3z-r0`.
    public func room(_ suffix: String) -> String { "\(roomPrefix)\(runID)-\(suffix)" }

    /// A nick unique to this run (nicks are at most 32 characters, so without the prefix).
    public func nick(_ suffix: String) -> String { "b\(runID)\(suffix)" }

    /// Why `prefix` cannot start room names, or nil: room names are 1-64 letters, digits, `_`
    /// or `-`, and a run adds up to 20 characters.
    public static func problem(withPrefix prefix: String) -> String? {
        guard prefix.count <= 40 else { return "--room-prefix must be at most 40 characters" }
        guard
            prefix.unicodeScalars.allSatisfy({
                $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
            })
        else { return "--room-prefix may hold only letters, digits, \"_\" and \"-\"" }
        return nil
    }
}

/// What the server's limits did to a run: the load it refused is not loss, and the figures of a
/// run it refused are not the server's speed.
public struct LimitsHit: Sendable, Codable, Equatable {
    /// Commands answered `rate_limited`.
    public var rateLimited = 0
    /// Connections the server closed for breaking its rules (1008: flooding, too slow, idle).
    public var policyCloses = 0

    public init(rateLimited: Int = 0, policyCloses: Int = 0) {
        self.rateLimited = rateLimited
        self.policyCloses = policyCloses
    }

    public var any: Bool { rateLimited > 0 || policyCloses > 0 }

    /// How to start a server for a benchmark: every limit that refuses load switched off.
    public static let unlimitedServe =
        "parley serve --say-burst 0 --command-burst 0 --max-connections-per-ip 0 "
        + "--connect-burst-per-ip 0 --max-connections 0 --max-members-per-room 0"
}
