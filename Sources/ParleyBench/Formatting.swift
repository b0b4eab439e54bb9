import Foundation

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

extension BinaryInteger {
    /// Zero-padded to `width` digits.
    func padded(_ width: Int) -> String {
        let digits = String(self)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// With thousands separators: 1,234,567.
    var grouped: String {
        var digits = Array(String(self))
        var index = digits.count - 3
        while index > (digits.first == "-" ? 1 : 0) {
            digits.insert(",", at: index)
            index -= 3
        }
        return String(digits)
    }
}

extension FixedWidthInteger {
    /// Parses ASCII decimal digits; `nil` when empty or anything else is there.
    init?(digits: some Collection<UInt8>) {
        guard !digits.isEmpty else { return nil }
        var value: Self = 0
        for byte in digits {
            guard byte >= 48 && byte <= 57 else { return nil }
            value = value &* 10 &+ Self(byte - 48)
        }
        self = value
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// The offset of the first occurrence of `needle` at or after `start`, by plain byte
    /// comparison. The standard library's `firstRange(of:)` is generic and unspecialised across
    /// modules: it took three quarters of the generator's time.
    func offset(of needle: StaticString, from start: Int = 0) -> Int? {
        let pattern = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        guard let first = pattern.first, count - start >= pattern.count else { return nil }
        var index = start
        let last = count - pattern.count
        while index <= last {
            if self[index] == first, memcmp(baseAddress! + index, pattern.baseAddress!, pattern.count) == 0 {
                return index
            }
            index += 1
        }
        return nil
    }

    func hasPrefix(_ prefix: StaticString) -> Bool {
        count >= prefix.utf8CodeUnitCount && memcmp(baseAddress!, prefix.utf8Start, prefix.utf8CodeUnitCount) == 0
    }

    /// The ASCII digits starting at `start`, as a number (at most `maxLength` of them).
    func number<Number: FixedWidthInteger>(at start: Int, maxLength: Int = 19) -> Number? {
        guard start < count else { return nil }
        return Number(digits: self[start..<Swift.min(count, start + maxLength)].prefix { $0 >= 48 && $0 <= 57 })
    }
}
