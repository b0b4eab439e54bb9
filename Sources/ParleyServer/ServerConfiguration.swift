public import ParleyChat

/// Everything `parley serve` can be told.
public struct ServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port; the server logs the one it got.
    public var port: Int
    /// The SQLite database file, created on first start, or a `postgres://` URL (cluster mode).
    public var databasePath: String
    /// On PostgreSQL, the node's name in logs, metrics and notifications (random when `nil`).
    public var nodeID: String?
    /// A folder to serve the chat page from instead of the copy built into the binary (for
    /// working on the page); `nil` serves the built-in one.
    public var webRoot: String?
    /// `PRAGMA synchronous = FULL` (an acknowledged message survives power loss) or NORMAL.
    public var synchronousFull: Bool
    /// The chat's own limits (rooms per connection, members per room, text length, rates).
    public var chat: ChatConfiguration
    /// Who may open a WebSocket, and how many.
    public var admission: AdmissionLimits
    /// The largest WebSocket message (a single frame or a reassembled one), in bytes.
    public var maxMessageBytes: Int
    /// How long, in seconds, a commit waits for a lock another process holds on the database
    /// before the says in it are refused as `unavailable`.
    public var busyTimeout: Double
    /// How long a graceful shutdown may take; then connections that are still open (clients
    /// that do not read their close frame) are dropped. Accepted messages are committed either way.
    public var shutdownTimeout: Duration
    /// How long a connection may take to send its first request in full, and may then stay idle
    /// between HTTP requests (whole seconds).
    public var requestTimeout: Duration
    /// How often the server pings each WebSocket; one that has not answered by the next ping is
    /// closed.
    public var pingInterval: Duration
    /// Serve `/echo`, a WebSocket that echoes every message, for protocol conformance tests.
    public var echoEndpoint: Bool
    /// Accept chat WebSockets on `/ws`. Off, clients must use the HTTP transport (`/events`), as
    /// behind a proxy that cannot pass WebSocket; the tests of the page's fallback use it too.
    public var webSocketEnabled = true

    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        databasePath: String = "parley.sqlite",
        nodeID: String? = nil,
        webRoot: String? = nil,
        synchronousFull: Bool = true,
        chat: ChatConfiguration = ChatConfiguration(),
        admission: AdmissionLimits = AdmissionLimits(),
        maxMessageBytes: Int = 65536,
        busyTimeout: Double = 5,
        shutdownTimeout: Duration = .seconds(10),
        requestTimeout: Duration = .seconds(15),
        pingInterval: Duration = .seconds(30),
        echoEndpoint: Bool = false
    ) {
        self.host = host
        self.port = port
        self.databasePath = databasePath
        self.nodeID = nodeID
        self.webRoot = webRoot
        self.synchronousFull = synchronousFull
        self.chat = chat
        self.admission = admission
        self.maxMessageBytes = maxMessageBytes
        self.busyTimeout = busyTimeout
        self.shutdownTimeout = shutdownTimeout
        self.requestTimeout = requestTimeout
        self.pingInterval = pingInterval
        self.echoEndpoint = echoEndpoint
    }
}
