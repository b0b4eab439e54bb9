import ArgumentParser
import Foundation
import ParleyAdmin
import ParleyCore
import ParleyStore

/// `parley rooms`: every room with its activity.
struct Rooms: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every room: messages, distinct nicks, first and last message.",
        discussion: """
            Examples:
              parley rooms
              parley rooms --format json | jq '.[] | select(.messages > 1000) | .room'
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "table, json, jsonl or csv.")
    var format = OutputFormat.table

    func run() async throws {
        let rooms = try await database.archive(readOnly: true).roomSummaries()
        let records = rooms.map { room in
            Record([
                ("room", .string(room.name)),
                ("messages", .integer(Int64(room.messageCount))),
                ("nicks", .integer(Int64(room.distinctNicks))),
                ("first", room.firstAt.map { .string(Timestamp.iso8601(milliseconds: $0)) } ?? .null),
                ("last", room.lastAt.map { .string(Timestamp.iso8601(milliseconds: $0)) } ?? .null),
                ("last_id", .integer(room.lastID)),
            ])
        }
        let local = LocalTime()
        var writer = RecordWriter(
            format: format,
            terminal: .standardOutput(environment: ProcessInfo.processInfo.environment),
            columns: [
                .init("ROOM", style: "36"), .init("MESSAGES", alignRight: true), .init("NICKS", alignRight: true),
                .init("FIRST MESSAGE", style: "2"), .init("LAST MESSAGE"),
            ]
        ) { record in
            let values = record.fields.map(\.value)
            return ([values[0], values[1], values[2], values[3], values[4]].map(local.cell), [])
        }
        let header = records.first?.csvHeader ?? CSV.line(["room", "messages", "nicks", "first", "last", "last_id"])
        StandardOutput.write(writer.begin(records, csvHeader: header) + writer.rows(records) + writer.end())
    }
}
