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
