public import Foundation

/// A point in time as an operator writes it on the command line.
///
/// Accepted forms (local time unless a zone is given):
/// - ISO 8601: `2026-11-26T14:30:00Z`, `2026-11-26T14:30:00+01:00`, `2026-11-26T14:30`,
///   `2026-11-26 14:30:15`;
/// - a date, meaning its start: `2026-11-26`;
/// - a duration ago: `90s`, `15m`, `2h`, `3d`, `2w`;
/// - `now`, `today`, `yesterday`, optionally with a time of day: `yesterday 14:00`, `today 9:30`;
/// - a time of day alone, meaning today: `14:00`.
public struct TimeExpression: Sendable {
    /// Milliseconds since the epoch.
    public let milliseconds: Int64

    /// Why an expression was not understood.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let text: String
        public var description: String {
            "invalid time \"\(text)\": use ISO 8601 (2026-11-26T14:30Z), a date (2026-11-26), a time ago "
                + "(90s, 15m, 2h, 3d, 2w), now, today or yesterday (optionally with a time: \"yesterday 14:00\"), or a time today (14:00)"
        }
    }

    public init(_ text: String, now: Date = Date(), calendar: Calendar = .current) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let date = Self.parse(trimmed.lowercased(), original: trimmed, now: now, calendar: calendar) else {
            throw Invalid(text: text)
        }
        milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    private static func parse(_ text: String, original: String, now: Date, calendar: Calendar) -> Date? {
        if text == "now" { return now }
        if let seconds = durationSeconds(text) { return now.addingTimeInterval(-Double(seconds)) }
        for (word, offset) in [("today", 0), ("yesterday", -1)] where text.hasPrefix(word) {
            guard let day = calendar.date(byAdding: .day, value: offset, to: calendar.startOfDay(for: now)) else {
                return nil
            }
            let rest = text.dropFirst(word.count).trimmingCharacters(in: .whitespaces)
            if rest.isEmpty { return day }
            guard let (hour, minute, second) = timeOfDay(rest) else { return nil }
            return calendar.date(bySettingHour: hour, minute: minute, second: second, of: day)
        }
        // A bare time of day means today (as journalctl reads it).
        if let (hour, minute, second) = timeOfDay(text) {
            return calendar.date(bySettingHour: hour, minute: minute, second: second, of: now)
        }
        return absolute(original, calendar: calendar)
    }

    private static func durationSeconds(_ text: String) -> Int64? {
        guard let unit = text.last, let amount = Int64(text.dropLast()), amount >= 0 else { return nil }
        let scale: Int64? =
            switch unit {
            case "s": 1
            case "m": 60
            case "h": 3600
            case "d": 86400
            case "w": 604_800
            default: nil
            }
        guard let scale, amount <= Int64.max / scale / 1000 else { return nil }
        return amount * scale
    }

    /// `H:MM` or `HH:MM[:SS]`.
    private static func timeOfDay(_ text: String) -> (Int, Int, Int)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        guard (2...3).contains(parts.count), parts.allSatisfy({ $0 != nil }) else { return nil }
        let hour = parts[0]!
        let minute = parts[1]!
        let second = parts.count == 3 ? parts[2]! : 0
        guard (0..<24).contains(hour), (0..<60).contains(minute), (0..<60).contains(second) else { return nil }
        return (hour, minute, second)
    }

    private static func absolute(_ text: String, calendar: Calendar) -> Date? {
        // With an explicit zone (Z or ±hh:mm), ISO 8601 as Foundation reads it.
        let withZone = text.replacingOccurrences(of: " ", with: "T")
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime],
        ] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: withZone) { return date }
        }
        if let date = zonelessISO(withZone.replacingOccurrences(of: "z", with: "Z"), zoneSuffix: "Z") { return date }
        // Without a zone: local time.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = calendar.timeZone
        formatter.calendar = calendar
        for format in ["yyyy-MM-dd'T'HH:mm:ss.SSS", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: withZone), formatter.string(from: date) == withZone { return date }
        }
        return nil
    }

    /// `2026-11-26T14:30Z` (no seconds), which ISO8601DateFormatter refuses.
    private static func zonelessISO(_ text: String, zoneSuffix: String) -> Date? {
        guard text.hasSuffix(zoneSuffix) else { return nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm'Z'"
        return formatter.date(from: text)
    }
}
