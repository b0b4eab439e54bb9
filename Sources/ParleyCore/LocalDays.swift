public import Foundation

/// The local calendar days `parley stats` counts messages for: the last few days up to a moment,
/// each with its bounds in milliseconds since the epoch. Bounds come from the calendar, so a day
/// with a daylight-saving change is 23 or 25 hours long.
public struct LocalDays: Sendable {
    public struct Day: Sendable {
        /// `YYYY-MM-DD`.
        public var name: String
        /// The first millisecond of the day.
        public var start: Int64
        /// The first millisecond of the next day.
        public var end: Int64
    }

    /// Oldest first, today last.
    public let all: [Day]

    public init(days: Int, endingAt now: Date, calendar: Calendar = .current) {
        let today = calendar.startOfDay(for: now)
        let firstDay = calendar.date(byAdding: .day, value: -(days - 1), to: today) ?? today
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = calendar.timeZone
        formatter.dateFormat = "yyyy-MM-dd"
        all = (0..<max(days, 0)).compactMap { offset in
            guard let day = calendar.date(byAdding: .day, value: offset, to: firstDay),
                let next = calendar.date(byAdding: .day, value: 1, to: day)
            else { return nil }
            return Day(
                name: formatter.string(from: day),
                start: Int64(day.timeIntervalSince1970 * 1000),
                end: Int64(next.timeIntervalSince1970 * 1000)
            )
        }
    }
}
