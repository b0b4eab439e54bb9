import Foundation
import PackagePlugin

/// Embeds every `Migrations/*.sql` file of the package into the target, so that the binary
/// carries its schema and runs from any working directory. The PostgreSQL store's target gets
/// `Migrations/postgres/*.sql` instead, as `PostgresMigrations`.
@main
struct EmbedMigrations: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let isPostgres = target.name == "ParleyPostgres"
        let folder = context.package.directoryURL.appending(path: isPostgres ? "Migrations/postgres" : "Migrations")
        let files = try FileManager.default
            .contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "sql" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrations.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) SQL migrations",
                executable: try context.tool(named: "FileEmbedder").url,
                arguments: [
                    output.path, isPostgres ? "PostgresMigrations" : "ParleyMigrations", "embeddedFiles", folder.path,
                ]
                    + files.map(\.path),
                inputFiles: files,
                outputFiles: [output]
            )
        ]
    }
}
