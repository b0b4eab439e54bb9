/// Identifies one WebSocket connection for as long as it is open.
public typealias ConnectionID = UInt64

/// Where the acknowledgement of a `say` goes once its message is committed.
public struct AckTarget: Sendable {
    public var connection: ConnectionID
    public var ref: String?

    public init(connection: ConnectionID, ref: String?) {
        self.connection = connection
        self.ref = ref
    }
}
