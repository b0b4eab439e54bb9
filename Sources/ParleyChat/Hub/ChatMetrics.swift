public import CoreMetrics

/// The chat's metrics, made from one factory (each server has its own registry, so several
/// servers in one process, as in the tests, do not share counts). Names follow Prometheus
/// conventions: `parley_` prefix, `_total` for counters.
public struct ChatMetrics: Sendable {
    let connections: Gauge
    let rooms: Gauge
    let members: Gauge
    let messagesReceived: Counter
    let messagesCommitted: Counter
    let messagesBroadcast: Counter
    let commitBatchSize: Recorder
    let commitDuration: Timer
    let messagesReplayed: Counter
    let recentMessagesBytes: Gauge
    let slowConsumerDisconnects: Counter
    let rateLimitDisconnects: Counter
    let rateLimitRefusals: Counter
    let storeErrors: Counter
    let sessionsResumed: Counter

    public init(factory: any MetricsFactory) {
        connections = Gauge(label: "parley_connections", factory: factory)
        rooms = Gauge(label: "parley_rooms", factory: factory)
        members = Gauge(label: "parley_room_members", factory: factory)
        messagesReceived = Counter(label: "parley_messages_received_total", factory: factory)
        messagesCommitted = Counter(label: "parley_messages_committed_total", factory: factory)
        messagesBroadcast = Counter(label: "parley_message_deliveries_total", factory: factory)
        commitBatchSize = Recorder(label: "parley_commit_batch_size", factory: factory)
        commitDuration = Timer(label: "parley_commit_duration_seconds", factory: factory)
        messagesReplayed = Counter(label: "parley_messages_replayed_total", factory: factory)
        recentMessagesBytes = Gauge(label: "parley_recent_messages_bytes", factory: factory)
        slowConsumerDisconnects = Counter(label: "parley_slow_consumer_disconnects_total", factory: factory)
        rateLimitDisconnects = Counter(label: "parley_rate_limit_disconnects_total", factory: factory)
        rateLimitRefusals = Counter(label: "parley_rate_limited_commands_total", factory: factory)
        storeErrors = Counter(label: "parley_store_errors_total", factory: factory)
        sessionsResumed = Counter(label: "parley_sessions_resumed_total", factory: factory)
    }

    /// Metrics that go nowhere (the default, and for tests of other things).
    public static let none = ChatMetrics(factory: NOOPMetricsHandler.instance)

    /// A slow consumer was closed (called by the transport, which sees it happen).
    public func slowConsumerClosed() { slowConsumerDisconnects.increment() }
}
