import HummingbirdWebSocket
import NIOCore
import NIOWebSocket

/// Reassembles WebSocket text messages from frames under Parley's own limits.
///
/// swift-websocket limits only the total size of a fragmented message, so a client could send
/// any number of empty continuation frames and grow the server's memory; this assembler also
/// caps the number of fragments. It refuses binary messages and invalid UTF-8 (also when a
/// character is split across fragments), each with its RFC 6455 close code.
struct MessageAssembler {
    /// Limits on one reassembled message.
    struct Limits: Sendable {
        /// The most bytes one message may have (65536 is accepted).
        var maxMessageBytes = 64 * 1024
        /// The most frames one message may be split into.
        var maxFragments = 1024
        /// Whether binary messages are taken (only by the conformance echo endpoint).
        var acceptsBinary = false
    }

    /// What a frame completes.
    enum Outcome: Equatable {
        /// More frames are needed.
        case incomplete
        /// A whole text message.
        case text(String)
        /// A whole binary message (when the limits accept them).
        case binary(ByteBuffer)
        /// The client broke a rule: close with this code and reason.
        case violation(WebSocketErrorCode, String)
    }

    let limits: Limits
    private var buffer = ByteBuffer()
    private var fragments = 0
    private var inMessage = false
    private var isBinary = false

    init(limits: Limits) {
        self.limits = limits
    }

    mutating func add(_ frame: WebSocketDataFrame) -> Outcome {
        switch frame.opcode {
        case .binary where !limits.acceptsBinary:
            return .violation(.unacceptableData, "binary messages are not supported; send JSON text")
        case .text, .binary:
            guard !inMessage else {
                return .violation(.protocolError, "a new message began before the last one finished")
            }
            inMessage = true
            isBinary = frame.opcode == .binary
            fragments = 1
            buffer.clear()
        case .continuation:
            guard inMessage else {
                return .violation(.protocolError, "continuation frame outside a message")
            }
            fragments += 1
            guard fragments <= limits.maxFragments else {
                return .violation(.messageTooLarge, "a message may have at most \(limits.maxFragments) fragments")
            }
        }
        guard buffer.readableBytes + frame.data.readableBytes <= limits.maxMessageBytes else {
            return .violation(.messageTooLarge, "a message may have at most \(limits.maxMessageBytes) bytes")
        }
        if frame.fin && buffer.readableBytes == 0 {
            // The common case, one unfragmented frame: no copy.
            inMessage = false
            return decode(frame.data)
        }
        var data = frame.data
        buffer.writeBuffer(&data)
        guard frame.fin else { return .incomplete }
        inMessage = false
        return decode(buffer)
    }

    private func decode(_ bytes: ByteBuffer) -> Outcome {
        if isBinary { return .binary(bytes) }
        guard let text = String(validating: bytes.readableBytesView, as: UTF8.self) else {
            return .violation(.dataInconsistentWithMessage, "text messages must be valid UTF-8")
        }
        return .text(text)
    }
}
