import NIOCore
import ParleyCore

extension Timestamp {
    /// Writes what ``Timestamp/iso8601(milliseconds:)`` returns, without making a String: a
    /// replay of 1000 messages formats 1000 times.
    static func writeISO8601(milliseconds: Int64, into buffer: inout ByteBuffer) {
        var (days, ms) = milliseconds.quotientAndRemainder(dividingBy: 86_400_000)
        if ms < 0 {
            ms += 86_400_000
            days -= 1
        }
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        guard (0...9999).contains(year) else {
            buffer.writeString(iso8601(milliseconds: milliseconds))
            return
        }
        // Composed on the stack and written once: single-byte ByteBuffer writes cost more than
        // the arithmetic.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { text in
            func put(_ value: Int64, _ count: Int, at offset: Int) {
                var value = value
                for position in stride(from: offset + count - 1, through: offset, by: -1) {
                    text[position] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
            }
            put(year, 4, at: 0)
            text[4] = UInt8(ascii: "-")
            put(month, 2, at: 5)
            text[7] = UInt8(ascii: "-")
            put(day, 2, at: 8)
            text[10] = UInt8(ascii: "T")
            put(ms / 3_600_000, 2, at: 11)
            text[13] = UInt8(ascii: ":")
            put(ms / 60_000 % 60, 2, at: 14)
            text[16] = UInt8(ascii: ":")
            put(ms / 1000 % 60, 2, at: 17)
            text[19] = UInt8(ascii: ".")
            put(ms % 1000, 3, at: 20)
            text[23] = UInt8(ascii: "Z")
            buffer.writeBytes(UnsafeRawBufferPointer(text))
        }
    }
}
