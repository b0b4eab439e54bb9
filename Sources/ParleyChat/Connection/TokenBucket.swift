public import NIOCore

/// A token bucket: `capacity` tokens at most (the burst), refilled at `perSecond`; every action
/// takes one. Used for per-connection command rates and per-address connection rates.
///
/// Every connection holds two, so it is kept to 24 bytes: the limits as `Float` (a burst and a
/// rate need no more precision) and the time as a `NIODeadline`, 8 bytes where a
/// `ContinuousClock.Instant` takes 16.
public struct TokenBucket: Sendable {
    private var tokens: Double
    private var updated: NIODeadline
    private let burst: Float
    private let rate: Float

    public var capacity: Double { Double(burst) }
    public var perSecond: Double { Double(rate) }

    /// A full bucket. A `perSecond` of 0 never refills; a `capacity` of 0 means no limit.
    public init(capacity: Int, perSecond: Double, now: NIODeadline = .now()) {
        self.burst = Float(capacity)
        self.rate = Float(perSecond)
        self.tokens = Double(capacity)
        self.updated = now
    }

    /// Whether this bucket limits anything at all.
    public var isUnlimited: Bool { burst == 0 }

    /// Takes a token: nil when there was one, else how long until there will be.
    public mutating func take(now: NIODeadline = .now()) -> Duration? {
        guard !isUnlimited else { return nil }
        let seconds = Double((now - updated).nanoseconds) * 1e-9
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
