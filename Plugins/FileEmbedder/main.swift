import Foundation

// Writes a Swift file that holds files as base64 string literals, for build-tool plugins that put
// a folder of the package into the binary.
// Usage: FileEmbedder OUTPUT.swift TYPE PROPERTY ROOT FILE...
// (Each file is named by its path relative to ROOT.)
let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 4 else {
    FileHandle.standardError.write(Data("usage: FileEmbedder OUTPUT.swift TYPE PROPERTY ROOT FILE...\n".utf8))
    exit(2)
}
let (outputPath, typeName, property) = (arguments[0], arguments[1], arguments[2])
let root = URL(fileURLWithPath: arguments[3]).standardizedFileURL.path

var source = """
    // Generated at build time by the FileEmbedder tool. Do not edit.

    extension \(typeName) {
        /// The embedded files, by path relative to their folder, base64-encoded.
        static let \(property): [(path: String, base64: String)] = [

    """
for path in arguments.dropFirst(4) {
    let url = URL(fileURLWithPath: path).standardizedFileURL
    var relative = url.path
    if relative.hasPrefix(root + "/") { relative = String(relative.dropFirst(root.count + 1)) }
    let contents = try Data(contentsOf: url)
    source += "        (\(String(reflecting: relative)), \"\(contents.base64EncodedString())\"),\n"
}
source += "    ]\n}\n"
try Data(source.utf8).write(to: URL(fileURLWithPath: outputPath), options: .atomic)
