import NIOCore
import ParleyCore

/// Writes JSON straight into a `ByteBuffer`: server events have a fixed shape, so they are
/// written field by field instead of going through `JSONEncoder` and an intermediate `Data`.
struct JSONWriter {
    private(set) var buffer: ByteBuffer
    private var needsComma = false

    init(capacity: Int = 128) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    mutating func beginObject() {
        separate()
        buffer.writeInteger(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() {
        buffer.writeInteger(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func beginArray(_ key: StaticString) {
        self.key(key)
        buffer.writeInteger(UInt8(ascii: "["))
        needsComma = false
    }

    mutating func endArray() {
        buffer.writeInteger(UInt8(ascii: "]"))
        needsComma = true
    }

    mutating func field(_ key: StaticString, _ value: String) {
        self.key(key)
        writeString(value)
        needsComma = true
    }

    mutating func field(_ key: StaticString, _ value: Int64) {
        self.key(key)
        writeDecimal(value)
        needsComma = true
    }

    /// The digits of `value`, without the `String` that `String(value)` would allocate.
    private mutating func writeDecimal(_ value: Int64) {
        if value < 0 { buffer.writeInteger(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 20 digits
        let start = withUnsafeMutableBytes(of: &digits) { raw -> Int in
            var end = 24
            repeat {
                end -= 1
                raw[end] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            return end
        }
        withUnsafeBytes(of: &digits) { raw in
            _ = buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[start...]))
        }
    }

    mutating func field(_ key: StaticString, _ value: Bool) {
        self.key(key)
        buffer.writeStaticString(value ? "true" : "false")
        needsComma = true
    }

    /// Writes `"key":value` only when `value` is present.
    mutating func optionalField(_ key: StaticString, _ value: String?) {
        if let value { field(key, value) }
    }

    /// An array element that is a string.
    mutating func element(_ value: String) {
        separate()
        writeString(value)
        needsComma = true
    }

    /// An array element that is already encoded JSON (a kept `message` event).
    mutating func element(encoded value: ByteBuffer) {
        separate()
        var value = value
        buffer.writeBuffer(&value)
        needsComma = true
    }

    /// Keys are the protocol's own names: nothing to escape.
    private mutating func key(_ key: StaticString) {
        separate()
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeStaticString(key)
        buffer.writeStaticString("\":")
    }

    private mutating func separate() {
        if needsComma { buffer.writeInteger(UInt8(ascii: ",")) }
    }

    /// A JSON string: quotes, backslashes and control characters escaped, everything else as
    /// UTF-8.
    private mutating func writeString(_ string: String) {
        buffer.writeInteger(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { bytes in
            // Copy runs that need no escaping in one go: most texts are a single run.
            var runStart = 0
            for index in bytes.indices {
                let byte = bytes[index]
                if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[runStart..<index]))
                    writeEscape(byte)
                    runStart = index + 1
                }
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[runStart...]))
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// A field whose value is a message time, written as ISO 8601 straight into the buffer.
    mutating func timestampField(_ key: StaticString, milliseconds: Int64) {
        self.key(key)
        buffer.writeInteger(UInt8(ascii: "\""))
        Timestamp.writeISO8601(milliseconds: milliseconds, into: &buffer)
        buffer.writeInteger(UInt8(ascii: "\""))
        needsComma = true
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    private mutating func writeEscape(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
        case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
        case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
        case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
        case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
        default:
            buffer.writeStaticString("\\u00")
            buffer.writeInteger(Self.hexDigit(byte >> 4))
            buffer.writeInteger(Self.hexDigit(byte & 0xF))
        }
    }
}
