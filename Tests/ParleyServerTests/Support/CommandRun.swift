import Foundation

/// One run of the real `parley` binary: its exit status and everything it printed.
struct CommandRun: Sendable {
    var status: Int32
    var output: String
    var errors: String

    /// Runs `parley arguments…` with `input` on standard input and `environment` added.
    static func parley(
        _ arguments: [String],
        input: String? = nil,
        environment: [String: String] = [:],
        in directory: URL? = nil
    ) async throws -> CommandRun {
        let process = Process()
        process.executableURL = try ServerProcess.executable()
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        var variables = ProcessInfo.processInfo.environment
        variables.removeValue(forKey: "PARLEY_DB")
        variables.removeValue(forKey: "NO_COLOR")
        process.environment = variables.merging(environment) { $1 }
        let output = Pipe()
        let errors = Pipe()
        let inputPipe = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = inputPipe
        try process.run()
        // Both pipes are read while the process runs, so a large output cannot fill one and stall it.
        async let printed = Task.detached { output.fileHandleForReading.readDataToEndOfFile() }.value
        async let complained = Task.detached { errors.fileHandleForReading.readDataToEndOfFile() }.value
        if let input { inputPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try inputPipe.fileHandleForWriting.close()
        let (outputData, errorData) = await (printed, complained)
        process.waitUntilExit()
        return CommandRun(
            status: process.terminationStatus,
            output: String(decoding: outputData, as: UTF8.self),
            errors: String(decoding: errorData, as: UTF8.self)
        )
    }

    /// The output's lines, without the final newline.
    var lines: [String] { output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }
}
