public import Foundation

/// Where `parley prune --older-than` cuts: an age before now, or a point in time.
///
/// Ages take a unit that cannot be misread: `30min`, `12h`, `90d`, `2w`, `6mo`, `1y` (months and
/// years by the calendar). A bare `m` is refused, because `6m` meant as six months would delete
/// everything older than six minutes. A point in time is written as for `--since`:
/// `2026-06-01`, `2026-06-01T12:00Z`, `yesterday`. A cutoff in the future is refused: it would
/// delete every message.
public enum PruneCutoff {
    /// Why an `--older-than` value was refused.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// The cutoff `text` names: messages written before it are the ones to delete.
    public static func parse(_ text: String, now: Date = Date(), calendar: Calendar = .current) throws(Invalid) -> Date
    {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let lowered = trimmed.lowercased()
        let digits = lowered.prefix(while: \.isASCII).prefix(while: \.isNumber)
        let unit = lowered.dropFirst(digits.count)
        if !digits.isEmpty, unit == "m" {
            throw Invalid(
                description: "\"\(trimmed)\" is ambiguous: write \(digits)min for minutes or \(digits)mo for months"
            )
        }
        if let amount = Int(digits), !unit.isEmpty, let component = component(String(unit)) {
            let (calendarUnit, scale) = component
            guard let date = calendar.date(byAdding: calendarUnit, value: -amount * scale, to: now) else {
                throw Invalid(description: "the age \"\(trimmed)\" is too large")
            }
            return date
        }
        // Not an age: a point in time, as --since reads it (but not its "15m" ages, handled above).
        let isAge = !digits.isEmpty && unit.allSatisfy(\.isLetter) && !unit.isEmpty
        guard !isAge, let point = try? TimeExpression(trimmed, now: now, calendar: calendar) else {
            throw Invalid(
                description: "invalid age \"\(trimmed)\": use a number and a unit (30min, 12h, 90d, 2w, 6mo, 1y) "
                    + "or a date (2026-06-01)"
            )
        }
        let date = Date(timeIntervalSince1970: Double(point.milliseconds) / 1000)
        guard date <= now else {
            throw Invalid(description: "the cutoff \"\(trimmed)\" is in the future: that would delete every message")
        }
        return date
    }

    private static func component(_ unit: String) -> (Calendar.Component, Int)? {
        switch unit {
        case "s", "sec": (.second, 1)
        case "min": (.minute, 1)
        case "h": (.hour, 1)
        case "d": (.day, 1)
        case "w": (.day, 7)
        case "mo": (.month, 1)
        case "y": (.year, 1)
        default: nil
        }
    }

    /// `2026-06-05 11:32:00 +00:00`: the cutoff as the operator's clock shows it, with its offset.
    public static func describe(_ date: Date, timeZone: TimeZone = .current) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = timeZone
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss xxx"
        return formatter.string(from: date)
    }
}
