import ArgumentParser
import Foundation
import ParleyAdmin
import ParleyCore
import ParleyStore

/// `parley prune`: forget old messages.
struct Prune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete messages written before a cutoff.",
        discussion: """
            The cutoff is an age (30min, 12h, 90d, 2w, 6mo, 1y) or a date (2026-06-01, \
            2026-06-01T12:00Z). A bare "m" is refused: minutes or months? On a terminal, prune \
            shows the cutoff date and the count and asks before deleting; elsewhere (cron, \
            scripts) it deletes only with --yes.

            Deletes in small batches, so a running server is never held up for long. Message ids \
            are never reused afterwards: clients that reconnect with `since` still get exactly \
            the new messages.

            Examples:
              parley prune --older-than 90d --dry-run
              parley prune --older-than 6mo
              parley prune --older-than 2026-01-01 --room random
              parley prune --older-than 90d --yes        # from cron
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(
        help: ArgumentHelp("Delete messages older than this age, or written before this date.", valueName: "age|date")
    )
    var olderThan: String

    @Option(name: .shortAndLong, help: "Only in this room.")
    var room: String?

    @Flag(help: "Only count what would be deleted.")
    var dryRun = false

    @Flag(name: .shortAndLong, help: "Delete without asking (for scripts; needed when not on a terminal).")
    var yes = false

    func run() async throws {
        let cutoff: Date
        do {
            cutoff = try PruneCutoff.parse(olderThan)
        } catch {
            throw CommandError(error.description)
        }
        let cutoffMilliseconds = Int64((cutoff.timeIntervalSince1970 * 1000).rounded())
        let archive = try await database.archive(readOnly: dryRun)
        var roomName: RoomName?
        if let room { roomName = try await FilterOptions.existingRoom(room, in: archive) }
        let scope = roomName.map { " in #\($0.value)" } ?? ""
        let when = "written before \(PruneCutoff.describe(cutoff))"
        let count = try await archive.prune(olderThan: cutoffMilliseconds, room: roomName, dryRun: true)
        if dryRun {
            StandardOutput.write("would delete \(count) messages\(scope) \(when)\n")
            return
        }
        if count == 0 {
            StandardOutput.write("nothing to delete: no messages\(scope) \(when)\n")
            return
        }
        if !yes {
            guard isatty(STDIN_FILENO) == 1 else {
                throw CommandError(
                    "this would delete \(count) messages\(scope) \(when); add --yes to delete without a terminal to confirm on"
                )
            }
            FileHandle.standardError.write(Data("Delete \(count) messages\(scope) \(when)? [y/N] ".utf8))
            let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
            guard answer == "y" || answer == "yes" else {
                StandardOutput.write("nothing deleted\n")
                throw ExitCode(1)
            }
        }
        let deleted = try await archive.prune(olderThan: cutoffMilliseconds, room: roomName, dryRun: false)
        StandardOutput.write("deleted \(deleted) messages\(scope) \(when)\n")
    }
}
