import NIOCore

/// Reassembles WebSocket messages from a client's data frames under Parley's own limits.
///
/// Besides the size of a message it caps the number of fragments, so that a client cannot grow
/// the server's memory with endless empty continuation frames. It refuses binary messages
/// (unless the limits take them) and invalid UTF-8 (also when a character is split across
/// fragments), each with its RFC 6455 close code.
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
    }

    let limits: Limits
    /// The fragments so far of an unfinished message (`nil` between messages: no memory kept
    /// after a large one).
    private var buffer: ByteBuffer?
    private var fragments = 0
    private var isBinary = false

    init(limits: Limits) {
        self.limits = limits
    }

    /// Adds a data frame (text, binary or continuation).
    mutating func add(_ frame: ClientFrame) throws(FrameViolation) -> Outcome {
        switch frame.opcode {
        case .binary where !limits.acceptsBinary:
            throw FrameViolation(code: 1003, reason: "binary messages are not supported; send JSON text")
        case .text, .binary:
            guard buffer == nil else {
                throw .protocolError("a new message began before the last one finished")
            }
            isBinary = frame.opcode == .binary
            fragments = 1
            if frame.fin { return try decode(frame.payload) }  // the common case: no copy
            buffer = frame.payload
            return .incomplete
        case .continuation:
            guard var held = buffer.take() else {
                throw .protocolError("continuation frame outside a message")
            }
            fragments += 1
            guard fragments <= limits.maxFragments else {
                throw FrameViolation(code: 1009, reason: "a message may have at most \(limits.maxFragments) fragments")
            }
            guard held.readableBytes + frame.payload.readableBytes <= limits.maxMessageBytes else {
                throw FrameViolation(code: 1009, reason: "a message may have at most \(limits.maxMessageBytes) bytes")
            }
            held.writeImmutableBuffer(frame.payload)
            guard frame.fin else {
                buffer = held
                return .incomplete
            }
            return try decode(held)
        case .close, .ping, .pong:
            preconditionFailure("control frames are not part of a message")
        }
    }

    private func decode(_ bytes: ByteBuffer) throws(FrameViolation) -> Outcome {
        if isBinary { return .binary(bytes) }
        guard let text = String(validating: bytes.readableBytesView, as: UTF8.self) else {
            throw FrameViolation(code: 1007, reason: "text messages must be valid UTF-8")
        }
        return .text(text)
    }
}
