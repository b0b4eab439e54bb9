import Foundation  // memcmp

/// Reads the common shape of a command, one JSON object of string and integer fields, without
/// Foundation's JSONDecoder, which was the largest single cost of handling a `say`.
///
/// It gives up (returns `nil`) on anything beyond that shape: nested values, numbers that are not
/// integers, `true`/`false`/`null`, a repeated key, a known field of the wrong type, or JSON it
/// does not accept. The caller then decodes the frame with JSONDecoder, so every input gets
/// exactly the answer it would have had before; the scanner only needs to be right on what it
/// accepts (the property-based tests compare the two on random and mutated frames).
enum FlatCommandScanner {
    static func scan(_ text: String) -> RawCommand? {
        var text = text
        return text.withUTF8 { bytes in
            var scanner = Cursor(bytes: bytes)
            return scanner.command()
        }
    }

    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        /// The fields a command may have; a key is matched against their bytes, not made into a
        /// `String`.
        private enum Key: Int, CaseIterable {
            case type, ref, room, nick, text, mid, resume, query, since, before, after, limit

            static let names: [StaticString] = [
                "type", "ref", "room", "nick", "text", "mid", "resume", "query", "since", "before", "after", "limit",
            ]

            init?(_ bytes: UnsafeBufferPointer<UInt8>) {
                for (index, name) in Self.names.enumerated()
                where name.utf8CodeUnitCount == bytes.count
                    && memcmp(name.utf8Start, bytes.baseAddress!, bytes.count) == 0
                {
                    self.init(rawValue: index)
                    return
                }
                return nil
            }

            var takesString: Bool { rawValue <= Key.query.rawValue }
        }

        mutating func command() -> RawCommand? {
            var raw = RawCommand()
            var seenKeys = 0  // a bit per `Key`
            var unknownKeys: [UnsafeBufferPointer<UInt8>] = []
            skipSpace()
            guard take(UInt8(ascii: "{")) else { return nil }
            skipSpace()
            if take(UInt8(ascii: "}")) { return finish(raw) }
            while true {
                skipSpace()
                guard let keyBytes = plainString() else { return nil }
                let key = Key(keyBytes)
                if let key {
                    guard seenKeys & (1 << key.rawValue) == 0 else { return nil }
                    seenKeys |= 1 << key.rawValue
                } else {
                    let repeated = unknownKeys.contains {
                        $0.count == keyBytes.count && memcmp($0.baseAddress!, keyBytes.baseAddress!, $0.count) == 0
                    }
                    guard !repeated else { return nil }
                    unknownKeys.append(keyBytes)
                }
                skipSpace()
                guard take(UInt8(ascii: ":")) else { return nil }
                skipSpace()
                guard index < bytes.count else { return nil }
                if bytes[index] == UInt8(ascii: "\"") {
                    if let key, !key.takesString { return nil }  // mistyped: let JSONDecoder word it
                    guard let value = string() else { return nil }
                    switch key {
                    case .type: raw.type = value
                    case .ref:
                        raw.ref = value
                        if value.unicodeScalars.count > ProtocolLimits.maxRefLength {
                            raw.ref = nil
                            raw.refProblem = "ref must be at most \(ProtocolLimits.maxRefLength) characters."
                        }
                    case .room: raw.room = value
                    case .nick: raw.nick = value
                    case .text: raw.text = value
                    case .mid: raw.mid = value
                    case .resume: raw.resume = value
                    case .query: raw.query = value
                    default: break
                    }
                } else {
                    if let key, key.takesString { return nil }
                    guard let value = integer() else { return nil }
                    switch key {
                    case .since: raw.since = value
                    case .before: raw.before = value
                    case .after: raw.after = value
                    case .limit:
                        guard let limit = Int(exactly: value) else { return nil }
                        raw.limit = limit
                    default: break
                    }
                }
                skipSpace()
                if take(UInt8(ascii: ",")) { continue }
                guard take(UInt8(ascii: "}")) else { return nil }
                return finish(raw)
            }
        }

        /// A key: a string without escapes, as its bytes (a key with escapes gives up).
        private mutating func plainString() -> UnsafeBufferPointer<UInt8>? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") { break }
                if byte < 0x20 || byte == UInt8(ascii: "\\") { return nil }
                index += 1
            }
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            let key = UnsafeBufferPointer(rebasing: bytes[start..<index])
            // JSONDecoder refuses keys that are not valid UTF-8; so does this, to give the same answer.
            guard key.allSatisfy({ $0 < 0x80 }) || String(validating: key, as: UTF8.self) != nil else { return nil }
            return key
        }

        private mutating func finish(_ raw: RawCommand) -> RawCommand? {
            skipSpace()
            return index == bytes.count ? raw : nil
        }

        private mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        private mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// A string without escapes is taken as it is; escapes other than the simple ones (or
        /// any oddity) give up.
        private mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            var escaped = false
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") { break }
                if byte < 0x20 { return nil }  // JSON forbids raw control characters
                if byte == UInt8(ascii: "\\") {
                    escaped = true
                    index += 1
                }
                index += 1
            }
            guard index < bytes.count else { return nil }
            let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
            index += 1
            guard escaped else { return String(validating: raw, as: UTF8.self) }
            return unescape(raw)
        }

        private func unescape(_ raw: UnsafeBufferPointer<UInt8>) -> String? {
            var output: [UInt8] = []
            output.reserveCapacity(raw.count)
            var position = 0
            while position < raw.count {
                let byte = raw[position]
                position += 1
                guard byte == UInt8(ascii: "\\") else {
                    output.append(byte)
                    continue
                }
                guard position < raw.count else { return nil }
                let escape = raw[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(escape)
                case UInt8(ascii: "n"): output.append(0x0A)
                case UInt8(ascii: "t"): output.append(0x09)
                case UInt8(ascii: "r"): output.append(0x0D)
                case UInt8(ascii: "b"): output.append(0x08)
                case UInt8(ascii: "f"): output.append(0x0C)
                default: return nil  // \u and anything else: JSONDecoder knows the surrogate rules
                }
            }
            return String(validating: output, as: UTF8.self)
        }

        /// An integer that fits Int64, without fraction or exponent.
        private mutating func integer() -> Int64? {
            let negative = take(UInt8(ascii: "-"))
            let start = index
            var value: Int64 = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                let (times, overflowA) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflowB) = times.addingReportingOverflow(Int64(bytes[index] - 0x30))
                guard !overflowA, !overflowB else { return nil }
                value = sum
                index += 1
            }
            let digits = index - start
            guard digits > 0, !(digits > 1 && bytes[start] == 0x30) else { return nil }  // no leading zeros
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] | 0x20 == UInt8(ascii: "e") {
                return nil
            }
            return negative ? -value : value
        }
    }
}
