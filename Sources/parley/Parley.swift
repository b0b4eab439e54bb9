import ArgumentParser
import ParleyCore

/// The `parley` command: the chat server and the tools to look after its history.
@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "A multi-room chat server with durable history.",
        discussion: """
            Start the server with `parley serve`, then open the URL it prints. The other commands \
            read (or, for import and prune, change) the same database, also while the server runs. \
            Every option can also be set through the environment variable named in its help.
            """,
        version: ParleyVersion.current,
        subcommands: [
            Serve.self, History.self, Rooms.self, Stats.self, Export.self, Import.self, Prune.self, Bench.self,
        ]
    )
}
