import NIOCore

/// The open event streams by token: how a `POST`ed command finds the stream it belongs to.
///
/// A token is 128 random bits, given only to the client that opened the stream (in its first
/// event): holding it is what entitles a request to speak for the stream, so no cookie is
/// involved and another site cannot forge one.
actor EventStreamDirectory {
    private var streams: [String: NIOLoopBound<EventStreamConnection>] = [:]

    /// A fresh token, registered for `connection`.
    func register(_ connection: NIOLoopBound<EventStreamConnection>) -> String {
        var generator = SystemRandomNumberGenerator()
        while true {
            let token = Self.hex(generator.next()) + Self.hex(generator.next())
            if streams[token] == nil {
                streams[token] = connection
                return token
            }
        }
    }

    func connection(for token: String) -> NIOLoopBound<EventStreamConnection>? {
        streams[token]
    }

    func remove(_ token: String) {
        streams[token] = nil
    }

    var count: Int { streams.count }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
