import Foundation
import ParleyAdmin
import Testing

/// The time forms operators type after --since, --until and --older-than.
@Suite struct TimeExpressionTests {
    // 2026-11-26 15:45:30 UTC, read in a fixed zone (UTC+1) so the tests do not depend on the machine.
    let now = Date(timeIntervalSince1970: 1_795_707_930)
    var calendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 3600)!
        return calendar
    }

    func parse(_ text: String) throws -> String {
        let millis = try TimeExpression(text, now: now, calendar: calendar).milliseconds
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = calendar.timeZone
        return formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    @Test func relativeForms() throws {
        #expect(try parse("now") == "2026-11-26T16:45:30+01:00")
        #expect(try parse("90s") == "2026-11-26T16:44:00+01:00")
        #expect(try parse("15m") == "2026-11-26T16:30:30+01:00")
        #expect(try parse("2h") == "2026-11-26T14:45:30+01:00")
        #expect(try parse("3d") == "2026-11-23T16:45:30+01:00")
        #expect(try parse("2w") == "2026-11-12T16:45:30+01:00")
        #expect(try parse("today") == "2026-11-26T00:00:00+01:00")
        #expect(try parse("yesterday") == "2026-11-25T00:00:00+01:00")
        #expect(try parse("Yesterday 14:00") == "2026-11-25T14:00:00+01:00")
        #expect(try parse("today 9:05:07") == "2026-11-26T09:05:07+01:00")
        #expect(try parse("14:00") == "2026-11-26T14:00:00+01:00")
    }

    @Test func absoluteForms() throws {
        #expect(try parse("2026-11-20") == "2026-11-20T00:00:00+01:00")
        #expect(try parse("2026-11-20T08:15") == "2026-11-20T08:15:00+01:00")
        #expect(try parse("2026-11-20 08:15:09") == "2026-11-20T08:15:09+01:00")
        #expect(try parse("2026-11-20T08:15:09Z") == "2026-11-20T09:15:09+01:00")
        #expect(try parse("2026-11-20T08:15Z") == "2026-11-20T09:15:00+01:00")
        #expect(try parse("2026-11-20T08:15:09.250+02:00") == "2026-11-20T07:15:09+01:00")
    }

    @Test(arguments: [
        "", "soon", "2h ago", "-3d", "3x", "2026-13-01", "2026-02-30", "yesterday 25:00", "24:00", "9:61",
    ])
    func nonsenseIsRefusedWithAHelpfulMessage(_ text: String) {
        let error = #expect(throws: TimeExpression.Invalid.self) { try parse(text) }
        #expect(error?.description.contains("invalid time \"\(text)\"") == true)
        #expect(error?.description.contains("2h") == true)
    }

    func cutoff(_ text: String) throws -> String {
        let date = try PruneCutoff.parse(text, now: now, calendar: calendar)
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = calendar.timeZone
        return formatter.string(from: date)
    }

    @Test func pruneCutoffsAreAgesWithUnambiguousUnitsOrDates() throws {
        #expect(try cutoff("90d") == "2026-08-28T16:45:30+01:00")
        #expect(try cutoff("2w") == "2026-11-12T16:45:30+01:00")
        #expect(try cutoff("12h") == "2026-11-26T04:45:30+01:00")
        #expect(try cutoff("30min") == "2026-11-26T16:15:30+01:00")
        #expect(try cutoff("6mo") == "2026-05-26T16:45:30+01:00")  // calendar months
        #expect(try cutoff("1y") == "2025-11-26T16:45:30+01:00")
        #expect(try cutoff("2026-06-01") == "2026-06-01T00:00:00+01:00")
        #expect(try cutoff("2026-06-01T12:00Z") == "2026-06-01T13:00:00+01:00")
        #expect(PruneCutoff.describe(now, timeZone: TimeZone(identifier: "UTC")!) == "2026-11-26 15:45:30 +00:00")
    }

    @Test(arguments: [
        ("6m", "\"6m\" is ambiguous: write 6min for minutes or 6mo for months"),
        ("15M", "\"15M\" is ambiguous"),
        ("90", "invalid age \"90\""),
        ("3x", "invalid age \"3x\""),
        ("soon", "invalid age \"soon\""),
        ("2027-01-01", "is in the future: that would delete every message"),
    ])
    func pruneCutoffsThatCouldHurtAreRefused(_ text: String, _ message: String) {
        let error = #expect(throws: PruneCutoff.Invalid.self) {
            try PruneCutoff.parse(text, now: now, calendar: calendar)
        }
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "")")
    }
}
