/// A client's own id for a message it sends (`mid`): 1-64 Unicode scalars, no control
/// characters. The store keeps one message per room and `mid`, which makes a retried `say`
/// idempotent; the same rule holds for the wire protocol and for `parley import`.
public struct ClientMessageID: Hashable, Sendable, CustomStringConvertible {
    /// The most Unicode scalars a `mid` may have.
    public static let maxLength = 64

    /// The rule in a sentence, for error messages.
    public static let rule = "1-\(maxLength) characters without control characters"

    public let value: String

    /// Validates `raw`, or returns `nil` when it is not a `mid`.
    public init?(_ raw: String) {
        let scalars = raw.unicodeScalars
        guard (1...Self.maxLength).contains(scalars.count),
            !scalars.contains(where: { $0.properties.generalCategory == .control })
        else { return nil }
        value = raw
    }

    public var description: String { value }
}
