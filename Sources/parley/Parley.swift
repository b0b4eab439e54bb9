import ArgumentParser

/// The `parley` command: the chat server and, in later versions, the tools to run it.
@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "A multi-room chat server with durable history.",
        discussion: """
            Start the server with `parley serve`, then open the URL it prints.
            Every option can also be set through the environment variable named in its help.
            """,
        subcommands: [Serve.self]
    )
}
