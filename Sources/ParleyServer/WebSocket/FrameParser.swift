import NIOCore

/// One WebSocket frame from a client, its payload unmasked.
struct ClientFrame {
    /// The opcodes of RFC 6455 §5.2 (no extension defines others here).
    enum Opcode: UInt8 {
        case continuation = 0x0
        case text = 0x1
        case binary = 0x2
        case close = 0x8
        case ping = 0x9
        case pong = 0xA

        var isControl: Bool { rawValue & 0x8 != 0 }
    }

    var fin: Bool
    var opcode: Opcode
    var payload: ByteBuffer
}

/// A rule of RFC 6455 a client broke, with the close code that says which kind.
struct FrameViolation: Error, Equatable {
    var code: UInt16
    var reason: String

    static func protocolError(_ reason: String) -> FrameViolation { .init(code: 1002, reason: reason) }
}

/// Cuts a client's byte stream into frames, checking each header against RFC 6455 before any
/// of its payload is kept.
///
/// Parley's own parser rather than NIO's codec: one handler per connection holds everything
/// (about a kilobyte less per idle connection than two codec handlers and their contexts).
/// A frame that arrived whole is unmasked straight into a buffer of its own size; only the
/// bytes of an unfinished frame are copied aside, so no slice of the channel's receive buffer
/// is ever kept (a kept slice pins the whole buffer for the connection's life).
struct FrameParser {
    /// The largest payload a data frame may announce (a message's limit: 1009 above it).
    let maxPayloadBytes: Int
    /// The bytes of a frame that has not arrived in full (`nil` between frames: no memory).
    private var partial: ByteBuffer?

    init(maxPayloadBytes: Int) {
        self.maxPayloadBytes = maxPayloadBytes
    }

    /// Parses every complete frame in `bytes` (after any bytes held from before), calling
    /// `body` with each, and keeps the rest for the next call.
    ///
    /// - Throws: the first rule a frame header breaks; nothing after it is parsed.
    mutating func parse(
        _ bytes: ByteBuffer,
        _ body: (ClientFrame) throws(FrameViolation) -> Void
    ) throws(FrameViolation) {
        var buffer: ByteBuffer
        let owned: Bool
        if var held = partial.take() {
            held.writeImmutableBuffer(bytes)
            buffer = held
            owned = true
        } else {
            buffer = bytes
            owned = false
        }
        while let frame = try Self.nextFrame(&buffer, maxPayloadBytes: maxPayloadBytes) {
            try body(frame)
        }
        guard buffer.readableBytes > 0 else { return }
        if owned {
            buffer.discardReadBytes()
            partial = buffer
        } else {
            // A copy of exactly the rest: the receive buffer is reused for the next read.
            var copy = ByteBufferAllocator().buffer(capacity: buffer.readableBytes)
            copy.writeImmutableBuffer(buffer)
            partial = copy
        }
    }

    /// Reads one frame off the front of `buffer`, or returns `nil` (consuming nothing) when it
    /// has not arrived in full.
    private static func nextFrame(
        _ buffer: inout ByteBuffer,
        maxPayloadBytes: Int
    ) throws(FrameViolation)
        -> ClientFrame?
    {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self),
            let second = buffer.getInteger(at: start + 1, as: UInt8.self)
        else { return nil }
        let fin = first & 0x80 != 0
        guard first & 0x70 == 0 else {
            throw .protocolError("reserved bits are set, but no extension was negotiated")
        }
        guard let opcode = ClientFrame.Opcode(rawValue: first & 0x0F) else {
            throw .protocolError("unknown opcode \(first & 0x0F)")
        }
        guard second & 0x80 != 0 else { throw .protocolError("a client must mask every frame") }
        let shortLength = Int(second & 0x7F)
        if opcode.isControl {
            guard fin else { throw .protocolError("control frames must not be fragmented") }
            guard shortLength <= 125 else { throw .protocolError("control frames carry at most 125 bytes") }
        }
        var headerLength = 2
        let length: Int
        switch shortLength {
        case 126:
            guard let extended = buffer.getInteger(at: start + 2, as: UInt16.self) else { return nil }
            headerLength += 2
            length = Int(extended)
        case 127:
            guard let extended = buffer.getInteger(at: start + 2, as: UInt64.self) else { return nil }
            guard extended & (1 << 63) == 0 else {
                throw .protocolError("the most significant bit of a 64-bit length must be 0")
            }
            headerLength += 8
            length = extended > UInt64(Int.max) ? Int.max : Int(extended)
        default:
            length = shortLength
        }
        guard length <= maxPayloadBytes else {
            throw FrameViolation(code: 1009, reason: "a message may have at most \(maxPayloadBytes) bytes")
        }
        guard let mask = buffer.getInteger(at: start + headerLength, as: UInt32.self) else { return nil }
        headerLength += 4
        guard buffer.readableBytes >= headerLength + length else { return nil }
        buffer.moveReaderIndex(forwardBy: headerLength)
        var payload = ByteBufferAllocator().buffer(capacity: length)
        buffer.readWithUnsafeReadableBytes { source in
            payload.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { target in
                withUnsafeBytes(of: mask.bigEndian) { key in
                    for index in 0..<length { target[index] = source[index] ^ key[index & 3] }
                }
                return length
            }
            return length
        }
        return ClientFrame(fin: fin, opcode: opcode, payload: payload)
    }
}
