/// A token bucket: `capacity` tokens at most (the burst), refilled at `perSecond`; every action
/// takes one. Used for per-connection command rates and per-address connection rates.
public struct TokenBucket: Sendable {
    public let capacity: Double
    public let perSecond: Double
    private var tokens: Double
    private var updated: ContinuousClock.Instant

    /// A full bucket. A `perSecond` of 0 never refills; a `capacity` of 0 means no limit.
    public init(capacity: Int, perSecond: Double, now: ContinuousClock.Instant = .now) {
        self.capacity = Double(capacity)
        self.perSecond = perSecond
        self.tokens = Double(capacity)
        self.updated = now
    }

    /// Whether this bucket limits anything at all.
    public var isUnlimited: Bool { capacity == 0 }

    /// Takes a token: nil when there was one, else how long until there will be.
    public mutating func take(now: ContinuousClock.Instant = .now) -> Duration? {
        guard !isUnlimited else { return nil }
        let elapsed = now - updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        tokens = min(capacity, tokens + seconds * perSecond)
        updated = now
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        guard perSecond > 0 else { return .seconds(3600) }
        return .milliseconds(Int64(((1 - tokens) / perSecond * 1000).rounded(.up)))
    }
}

/// How fast one connection may send commands.
public struct RateLimits: Sendable, Equatable {
    /// `say`: a burst, then a steady rate (IRC servers allow about this much).
    public var sayBurst: Int
    public var sayPerSecond: Double
    /// `join`, `leave`, `history`, `ping`: larger, so a client rejoining 100 rooms after a
    /// reconnect is not slowed down.
    public var commandBurst: Int
    public var commandPerSecond: Double
    /// Refused commands in a row after which the connection is closed (1008).
    public var maxRefusalsInARow: Int

    public init(
        sayBurst: Int = 10,
        sayPerSecond: Double = 5,
        commandBurst: Int = 200,
        commandPerSecond: Double = 20,
        maxRefusalsInARow: Int = 20
    ) {
        self.sayBurst = sayBurst
        self.sayPerSecond = sayPerSecond
        self.commandBurst = commandBurst
        self.commandPerSecond = commandPerSecond
        self.maxRefusalsInARow = maxRefusalsInARow
    }

    /// No limits (benchmarks, tests of other things).
    public static let unlimited = RateLimits(sayBurst: 0, sayPerSecond: 0, commandBurst: 0, commandPerSecond: 0)
}
