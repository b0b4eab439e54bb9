import ArgumentParser
import Foundation
import ParleyAdmin
import ParleyCore
import ParleyStore

/// `parley prune`: forget old messages.
struct Prune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete messages older than a given age.",
        discussion: """
            Deletes in small batches, so a running server is never held up for long. Message ids \
            are never reused afterwards: clients that reconnect with `since` still get exactly \
            the new messages.

            Examples:
              parley prune --older-than 90d --dry-run
              parley prune --older-than 90d
              parley prune --older-than 2w --room random
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: ArgumentHelp("Age of the messages to delete: 90d, 12h, 2w, …", valueName: "age"))
    var olderThan: String

    @Option(name: .shortAndLong, help: "Only in this room.")
    var room: String?

    @Flag(help: "Only count what would be deleted.")
    var dryRun = false

    func run() async throws {
        let age: Int64
        do {
            age = try TimeExpression.duration(olderThan)
        } catch let error as TimeExpression.InvalidDuration {
            throw CommandError(error.description)
        }
        let archive = try database.archive(readOnly: dryRun)
        var roomName: RoomName?
        if let room { roomName = try await FilterOptions.existingRoom(room, in: archive) }
        let cutoff = Int64(Date().timeIntervalSince1970 * 1000) - age
        let count = try await archive.prune(olderThan: cutoff, room: roomName, dryRun: dryRun)
        let scope = roomName.map { " in #\($0.value)" } ?? ""
        StandardOutput.write(
            dryRun
                ? "would delete \(count) messages\(scope) older than \(olderThan)\n"
                : "deleted \(count) messages\(scope) older than \(olderThan)\n"
        )
    }
}
