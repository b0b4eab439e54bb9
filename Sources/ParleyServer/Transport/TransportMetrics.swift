import Prometheus

/// What `/metrics` counts for one transport, labelled `transport="websocket"` or
/// `transport="event_stream"`. The chat's own metrics (`parley_connections` and the rest) count
/// both transports together.
struct TransportMetrics: Sendable {
    /// Connections attached to the chat now.
    let connections: Gauge
    /// Connections attached to the chat since the server started.
    let opened: Counter
    /// Commands received (WebSocket text messages, or `POST`s accepted for a stream).
    let commands: Counter

    init(transport: String, registry: PrometheusCollectorRegistry) {
        let labels = [("transport", transport)]
        connections = registry.makeGauge(
            descriptor: .init(
                namespace: "parley",
                metricName: "transport_connections",
                unitName: "",
                helpText: "Connections attached to the chat now, by transport."
            ),
            labels: labels
        )
        opened = registry.makeCounter(
            descriptor: .init(
                namespace: "parley",
                metricName: "transport_connections_opened",
                unitName: "total",
                helpText: "Connections attached to the chat since the server started, by transport."
            ),
            labels: labels
        )
        commands = registry.makeCounter(
            descriptor: .init(
                namespace: "parley",
                metricName: "transport_commands",
                unitName: "total",
                helpText: "Commands received, by transport."
            ),
            labels: labels
        )
    }
}
