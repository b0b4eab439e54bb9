import ArgumentParser
import Foundation
import ParleyAdmin
import ParleyCore
import ParleyStore

/// `parley stats`: how much is said, when, where and by whom.
struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Totals, messages per day, the busiest rooms and nicks, and the database size.",
        discussion: """
            Days are calendar days in the local time zone (set TZ to change it).

            Examples:
              parley stats
              parley stats --days 30 --top 10
              parley stats --format json
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Messages per day for this many days, today included.")
    var days = 7

    @Option(help: "How many of the busiest rooms and nicks to show.")
    var top = 5

    @Option(help: "table or json.")
    var format = OutputFormat.table

    func validate() throws {
        guard (1...3660).contains(days) else { throw ValidationError("--days must be between 1 and 3660") }
        guard (1...1000).contains(top) else { throw ValidationError("--top must be between 1 and 1000") }
        guard format == .table || format == .json else { throw ValidationError("--format must be table or json") }
    }

    func run() async throws {
        let stats = try await database.archive(readOnly: true).statistics(days: days, top: top)
        StandardOutput.write(format == .json ? json(stats) : text(stats))
    }

    private func json(_ stats: ArchiveStatistics) -> String {
        func time(_ millis: Int64?) -> String {
            millis.map { JSONText.string(Timestamp.iso8601(milliseconds: $0)) } ?? "null"
        }
        func ranking(_ entries: [(name: String, count: Int)], key: String) -> String {
            "["
                + entries.map { "{\(JSONText.string(key)):\(JSONText.string($0.name)),\"messages\":\($0.count)}" }
                .joined(separator: ",") + "]"
        }
        let perDay = stats.perDay.map { "{\"day\":\"\($0.day)\",\"messages\":\($0.count)}" }.joined(separator: ",")
        return """
            {"messages":\(stats.messageCount),"rooms":\(stats.roomCount),"nicks":\(stats.nickCount),\
            "first":\(time(stats.firstAt)),"last":\(time(stats.lastAt)),"per_day":[\(perDay)],\
            "busiest_rooms":\(ranking(stats.busiestRooms, key: "room")),\
            "busiest_nicks":\(ranking(stats.busiestNicks, key: "nick")),"database_bytes":\(stats.databaseBytes)}

            """
    }

    private func text(_ stats: ArchiveStatistics) -> String {
        let terminal = Terminal.standardOutput(environment: ProcessInfo.processInfo.environment)
        let local = LocalTime()
        func time(_ millis: Int64?) -> String {
            millis.map(local.string) ?? "-"
        }
        func heading(_ title: String) -> String { terminal.colour ? "\u{1B}[1m\(title)\u{1B}[0m\n" : "\(title)\n" }
        var output = heading("Totals")
        output += "  messages  \(stats.messageCount)\n  rooms     \(stats.roomCount)\n  nicks     \(stats.nickCount)\n"
        output += "  first     \(time(stats.firstAt))\n  last      \(time(stats.lastAt))\n"
        output += "  database  \(Self.bytes(stats.databaseBytes))\n\n"

        output += heading("Messages per day (last \(days))")
        let peak = max(stats.perDay.map(\.count).max() ?? 0, 1)
        let countWidth = String(peak).count
        let barRoom = max(10, min(50, (terminal.width ?? 80) - 16 - countWidth))
        for (day, count) in stats.perDay {
            let bar = String(repeating: "█", count: count == 0 ? 0 : max(1, count * barRoom / peak))
            let number = String(repeating: " ", count: countWidth - String(count).count) + String(count)
            output += "  \(day)  \(number)  \(bar)\n"
        }
        for (title, entries) in [("Busiest rooms", stats.busiestRooms), ("Busiest nicks", stats.busiestNicks)] {
            output += "\n" + heading(title)
            var table = TextTable(columns: [.init("NAME"), .init("MESSAGES", alignRight: true)])
            for entry in entries { table.append([entry.name, String(entry.count)]) }
            output += table.render(maxWidth: terminal.width, colour: false, header: false)
                .split(separator: "\n").map { "  " + $0 + "\n" }.joined()
        }
        return output
    }

    static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
