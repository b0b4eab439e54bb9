import ArgumentParser
import Foundation
import ParleyAdmin
import ParleyCore
import ParleyStore

/// `parley import`: reads what `parley export` wrote.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store the messages of a JSON Lines file, keeping their rooms and ids.",
        discussion: """
            All or nothing: every line is checked first, and one bad line (reported with its \
            number) imports nothing. A message whose room already holds the same id with the same \
            content is skipped, so importing a file twice adds nothing; the same id with other \
            content refuses the import. Creates the database when it does not exist yet.

            Examples:
              parley import support-november.jsonl
              parley export --db old.sqlite | parley import --db new.sqlite -
              parley export --db parley.sqlite | parley import --db postgres://parley@db.example/parley -
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Argument(help: "The file to read; - reads standard input.")
    var file: String

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }

    func run() async throws {
        let data: Data
        do {
            data =
                file == "-"
                ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw CommandError("cannot read \(file): \((error as NSError).localizedDescription)")
        }
        // Lines are cut on bytes: splitting a large String by Character would segment every
        // grapheme of the file first.
        var messages: [ArchivedMessage] = []
        var lineNumbers: [Int] = []
        for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            guard line.contains(where: { !Self.isSpace($0) }) else { continue }
            do {
                messages.append(try MessageRecords.parse(line: Data(line), number: index + 1))
                lineNumbers.append(index + 1)
            } catch {
                throw CommandError("\(file): \(error)")
            }
        }
        let archive = try await database.archive(readOnly: false, mayCreate: true)
        do {
            let (added, skipped) = try await archive.importMessages(messages, lines: lineNumbers)
            StandardOutput.write("imported \(added) messages (\(skipped) already there)\n")
        } catch let error as ImportError {
            throw CommandError("\(file): \(error)")
        }
    }
}
