import ArgumentParser
import Foundation
import ParleyAdmin
import ParleyStore

/// `parley export`: messages as JSON Lines, the format `parley import` reads.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write messages as JSON Lines (one message per line), oldest first.",
        discussion: """
            Takes the filters of `parley history`; without any, exports everything. Reads the \
            database read-only and streams, so it is safe on a running server and on any size. \
            Each line: {"room":…,"id":…,"nick":…,"ts":…,"text":…}, plus "mid" when the sender gave one.

            Examples:
              parley export > all.jsonl
              parley export --room support --since 2026-11-01 --until 2026-12-01 > support-november.jsonl
              parley export --nick mallory | jq -r .text
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var filters: FilterOptions

    func run() async throws {
        let archive = try await database.archive(readOnly: true)
        let filter = try await filters.filter(in: archive)
        try await archive.scan(filter, afterSeq: 0, throughSeq: try await archive.lastSeq()) { batch in
            StandardOutput.write(batch.map(MessageRecords.exportLine).joined())
        }
    }
}
