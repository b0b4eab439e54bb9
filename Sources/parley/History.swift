import ArgumentParser
import Foundation
import ParleyAdmin
import ParleyStore

/// `parley history`: query, and optionally follow, the stored messages.
struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show stored messages; with --follow, keep showing new ones.",
        discussion: """
            Shows the newest messages matching the filters, oldest first (like `tail`). Filters \
            combine. Reads the database read-only, so it is safe while `parley serve` runs.

            Examples:
              parley history -r support --since yesterday --until today
              parley history --nick bob --since 7d
              parley history --grep '"release notes" deploy*' -n 20
              parley history --room general -f
              parley history --room general --format csv -n 0 > general.csv
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var filters: FilterOptions

    @Option(name: [.customShort("n"), .long], help: "Show at most the newest N matching messages; 0 shows all.")
    var limit = 100

    @Option(help: "table, json, jsonl or csv.")
    var format = OutputFormat.table

    @Flag(name: .shortAndLong, help: "After the history, keep printing new messages as they are stored (Ctrl-C stops).")
    var follow = false

    @Option(help: ArgumentHelp("How often --follow looks for new messages, in milliseconds.", visibility: .hidden))
    var pollInterval = 250

    func validate() throws {
        guard limit >= 0 else { throw ValidationError("--limit must be 0 (all) or more") }
        if follow && format == .json {
            throw ValidationError("--follow writes a stream: use --format table, jsonl or csv")
        }
    }

    func run() async throws {
        let archive = try await database.archive(readOnly: true)
        let filter = try await filters.filter(in: archive)
        var writer = MessageRecords.writer(
            format: format,
            terminal: .standardOutput(environment: ProcessInfo.processInfo.environment),
            showRoom: filter.room == nil
        )
        // Everything committed up to here is history; what commits later is followed.
        var lastSeq = try await archive.lastSeq()
        var newest = filter
        newest.limit = limit == 0 ? nil : limit
        let records = try await archive.messages(newest).filter { $0.seq <= lastSeq }.map(MessageRecords.record)
        StandardOutput.write(writer.begin(records, csvHeader: MessageRecords.csvHeader) + writer.rows(records))
        guard follow else {
            StandardOutput.write(writer.end())
            return
        }
        while true {
            try await Task.sleep(for: .milliseconds(pollInterval))
            let newestSeq = try await archive.lastSeq()
            try await archive.scan(filter, afterSeq: lastSeq, throughSeq: newestSeq) { batch in
                StandardOutput.write(writer.rows(batch.map(MessageRecords.record)))
            }
            lastSeq = max(lastSeq, newestSeq)
        }
    }
}
