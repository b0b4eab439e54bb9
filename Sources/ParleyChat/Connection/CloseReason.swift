/// Why the server closes a connection, as a WebSocket close code and reason.
public struct CloseReason: Sendable, Equatable {
    public var code: UInt16
    public var reason: String

    public init(code: UInt16, reason: String) {
        self.code = code
        self.reason = reason
    }

    /// 1001: the server is shutting down.
    public static let goingAway = CloseReason(code: 1001, reason: "server shutting down")
    /// 1008: the client did not read its messages fast enough.
    public static let slowConsumer = CloseReason(code: 1008, reason: "too slow: outbound queue full")
    /// 1008: the connection did not join a room in time.
    public static let noJoin = CloseReason(code: 1008, reason: "no room joined in time")
    /// 1008: the client kept sending commands after being told to slow down.
    public static let flooding = CloseReason(code: 1008, reason: "rate limit exceeded")
    /// 1012: the server restarts its part of the chat (a cluster node that lost its lease);
    /// reconnect.
    public static let serviceRestart = CloseReason(code: 1012, reason: "node rejoining the cluster")
    /// 4001: a newer connection resumed this connection's session and took over its nick.
    public static let replaced = CloseReason(code: 4001, reason: "replaced")
}
