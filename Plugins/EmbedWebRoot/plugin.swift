import Foundation
import PackagePlugin

/// Embeds the chat page (every file below the package's `web/` folder) into the target, so that
/// a copied binary serves it with no folder beside it.
@main
struct EmbedWebRoot: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let folder = context.package.directoryURL.appending(path: "web")
        var files: [URL] = []
        let enumerator = FileManager.default.enumerator(
            at: folder,
            includingPropertiesForKeys: [.isRegularFileKey],
            options: [.skipsHiddenFiles]
        )
        while let url = enumerator?.nextObject() as? URL {
            if (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true { files.append(url) }
        }
        files.sort { $0.path < $1.path }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedWebRoot.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) files of the chat page",
                executable: try context.tool(named: "FileEmbedder").url,
                arguments: [output.path, "StaticFiles", "embeddedFiles", folder.path] + files.map(\.path),
                inputFiles: files,
                outputFiles: [output]
            )
        ]
    }
}
