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

    @Test func durations() throws {
        #expect(try TimeExpression.duration("90d") == 90 * 86_400_000)
        #expect(try TimeExpression.duration("12h") == 12 * 3_600_000)
        #expect(throws: TimeExpression.InvalidDuration.self) { try TimeExpression.duration("90") }
        #expect(throws: TimeExpression.InvalidDuration.self) { try TimeExpression.duration("yesterday") }
    }
}
