import ArgumentParser
import ParleyChat
import ParleyServer

/// The abuse limits of `parley serve`. Every count may be 0 to switch that limit off.
struct LimitOptions: ParsableArguments {
    @Option(help: "Open WebSocket connections in total; more get HTTP 503.")
    var maxConnections = AdmissionLimits().maxConnections

    @Option(
        name: .customLong("max-connections-per-ip"),
        help: "Open connections from one client address; more get 429."
    )
    var maxConnectionsPerAddress = AdmissionLimits().maxConnectionsPerAddress

    @Option(name: .customLong("connect-burst-per-ip"), help: "New connections one address may open at once …")
    var connectBurstPerAddress = AdmissionLimits().connectBurstPerAddress

    @Option(name: .customLong("connect-rate-per-ip"), help: "… and per second after that; beyond, 429.")
    var connectsPerSecondPerAddress = AdmissionLimits().connectsPerSecondPerAddress

    @Option(
        name: .customLong("allowed-origin"),
        help: ArgumentHelp(
            "A page origin (https://chat.example.com) allowed to open WebSockets besides the server's own. Repeatable.",
            valueName: "origin"
        )
    )
    var allowedOrigins: [String] = []

    @Option(
        name: .customLong("trusted-proxy"),
        help: ArgumentHelp(
            "Address or network (10.0.0.0/8) of a reverse proxy whose X-Forwarded-For names the client and X-Forwarded-Host the public host. Loopback is always trusted. Repeatable.",
            valueName: "address"
        )
    )
    var trustedProxies: [String] = []

    @Option(help: "say commands a connection may send at once …")
    var sayBurst = RateLimits().sayBurst

    @Option(help: "… and per second after that; beyond, rate_limited.")
    var sayRate = RateLimits().sayPerSecond

    @Option(help: "Other commands (join, leave, history, ping) a connection may send at once …")
    var commandBurst = RateLimits().commandBurst

    @Option(help: "… and per second after that.")
    var commandRate = RateLimits().commandPerSecond

    @Option(help: "Rooms one connection may be in.")
    var maxRoomsPerConnection = ChatConfiguration().maxRoomsPerConnection

    @Option(help: "Members one room may have; more get room_full.")
    var maxMembersPerRoom = ChatConfiguration().maxMembersPerRoom

    @Option(help: "Longest message text, in characters (at most 4000).")
    var maxTextLength = ChatConfiguration().maxTextLength

    @Option(help: "Seconds a connection may stay open without joining a room (then 1008).")
    var joinTimeout = ChatConfiguration().joinTimeout.seconds

    @Option(help: "Seconds a dropped connection's nick and rooms are kept for it to resume (0: not kept).")
    var sessionGrace = ChatConfiguration().sessionGrace.seconds

    @Option(help: "Seconds a connection has to send its first request in full, and may idle between HTTP requests.")
    var requestTimeout = ServerConfiguration().requestTimeout.seconds

    @Option(help: "Seconds between the server's pings; a WebSocket that has not answered by the next one is closed.")
    var pingInterval = ServerConfiguration().pingInterval.seconds

    @Option(
        help: ArgumentHelp(
            "MiB of recent messages all rooms keep in memory for joins and replays (0: read every replay from the store).",
            valueName: "MiB"
        )
    )
    var replayMemory = ChatConfiguration().recentMessagesMemory >> 20

    @Option(help: "Bytes waiting for one client before it is closed as too slow (1008).")
    var maxQueuedBytes = ChatConfiguration().maxQueuedBytes

    @Option(help: "Largest WebSocket message in bytes (one frame or reassembled); larger ones close with 1009.")
    var maxMessageBytes = ServerConfiguration().maxMessageBytes

    func validate() throws {
        guard (1...4000).contains(maxTextLength) else { throw ValidationError("--max-text-length must be 1-4000") }
        guard (1024...(16 << 20)).contains(maxMessageBytes) else {
            throw ValidationError("--max-message-bytes must be between 1024 and 16777216")
        }
        for (name, value) in [("join", joinTimeout), ("request", requestTimeout), ("ping", pingInterval)] {
            guard value > 0 else {
                throw ValidationError("--\(name)-\(name == "ping" ? "interval" : "timeout") must be more than 0")
            }
        }
        guard sessionGrace >= 0 else { throw ValidationError("--session-grace must be 0 or more") }
        guard (0...(1 << 20)).contains(replayMemory) else { throw ValidationError("--replay-memory must be 0-1048576") }
        guard maxQueuedBytes >= 65536 else { throw ValidationError("--max-queued-bytes must be at least 65536") }
        for proxy in trustedProxies where !AdmissionLimits.isValidProxy(proxy) {
            throw ValidationError("--trusted-proxy \(proxy) is not an IP address or network (such as 10.0.0.0/8)")
        }
        guard maxRoomsPerConnection >= 1 else { throw ValidationError("--max-rooms-per-connection must be 1 or more") }
    }

    func apply(to configuration: inout ServerConfiguration) {
        configuration.admission = AdmissionLimits(
            maxConnections: maxConnections,
            maxConnectionsPerAddress: maxConnectionsPerAddress,
            connectBurstPerAddress: connectBurstPerAddress,
            connectsPerSecondPerAddress: connectsPerSecondPerAddress,
            allowedOrigins: Set(allowedOrigins),
            trustedProxies: Set(trustedProxies)
        )
        configuration.chat.rateLimits = RateLimits(
            sayBurst: sayBurst,
            sayPerSecond: sayRate,
            commandBurst: commandBurst,
            commandPerSecond: commandRate
        )
        configuration.chat.maxRoomsPerConnection = maxRoomsPerConnection
        configuration.chat.maxMembersPerRoom = maxMembersPerRoom
        configuration.chat.maxTextLength = maxTextLength
        configuration.maxMessageBytes = maxMessageBytes
        configuration.chat.maxQueuedBytes = maxQueuedBytes
        configuration.chat.joinTimeout = .milliseconds(Int64(joinTimeout * 1000))
        configuration.chat.sessionGrace = .milliseconds(Int64(sessionGrace * 1000))
        configuration.chat.recentMessagesMemory = replayMemory << 20
        configuration.requestTimeout = .milliseconds(Int64(requestTimeout * 1000))
        configuration.pingInterval = .milliseconds(Int64(pingInterval * 1000))
    }
}

extension Duration {
    /// The duration in seconds, as the command line takes it.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
