import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The files of the web root, read once at startup and served from memory.
///
/// Serving from a fixed table makes path traversal impossible by construction: a request can
/// only name a file that was found under the root when the server started (symlinks that lead
/// outside the root are skipped then). Editing `web/` takes effect on the next start.
struct StaticFiles: Sendable {
    struct File: Sendable {
        var contentType: String
        var body: ByteBuffer
    }

    /// Relative path (`index.html`, `js/app.js`) → file.
    let files: [String: File]

    /// Where the files came from, for the start-up log.
    let origin: String

    /// The page built into the binary (the `web/` folder at build time).
    init() {
        var files: [String: File] = [:]
        for file in Self.embeddedFiles {
            let bytes = Data(base64Encoded: file.base64) ?? Data()
            files[file.path] = File(contentType: Self.contentType(of: file.path), body: ByteBuffer(bytes: bytes))
        }
        self.files = files
        self.origin = "built in"
    }

    /// Reads every regular file below `root`.
    init(root: String, logger: Logger) throws {
        let rootURL = URL(fileURLWithPath: root).standardizedFileURL.resolvingSymlinksInPath()
        let rootPath = rootURL.path.hasSuffix("/") ? rootURL.path : rootURL.path + "/"
        var files: [String: File] = [:]
        let manager = FileManager.default
        guard let enumerator = manager.enumerator(atPath: rootURL.path) else {
            throw StaticFilesError.missingRoot(root)
        }
        for case let relative as String in enumerator {
            let url = rootURL.appendingPathComponent(relative)
            let resolved = url.resolvingSymlinksInPath().path
            guard resolved.hasPrefix(rootPath) else {
                logger.warning("Not serving \(relative): it points outside the web root")
                continue
            }
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: resolved, isDirectory: &isDirectory), !isDirectory.boolValue else {
                continue
            }
            let data = try Data(contentsOf: URL(fileURLWithPath: resolved))
            files[relative] = File(contentType: Self.contentType(of: relative), body: ByteBuffer(bytes: data))
        }
        guard files["index.html"] != nil else { throw StaticFilesError.missingRoot(root) }
        self.files = files
        self.origin = rootURL.path
    }

    /// Why a request path names no file.
    enum LookupFailure: Error {
        /// The path is malformed (bad percent-encoding, a NUL byte).
        case badRequest
        case notFound
    }

    /// The file a request path names, or why there is none.
    func lookup(rawPath: String) -> Result<File, LookupFailure> {
        guard let bytes = Self.percentDecoded(rawPath) else { return .failure(.badRequest) }
        // A NUL byte can cut a path short in lower layers: refuse it outright.
        guard !bytes.contains(0) else { return .failure(.badRequest) }
        guard let path = String(validating: bytes, as: UTF8.self), path.hasPrefix("/") else {
            return .failure(.notFound)
        }
        var relative = String(path.dropFirst())
        if relative.isEmpty { relative = "index.html" }
        // Browsers, feed readers and bookmarks ask for /favicon.ico whatever the page declares.
        if relative == "favicon.ico" && files[relative] == nil { relative = "favicon.svg" }
        guard let file = files[relative] else { return .failure(.notFound) }
        return .success(file)
    }

    static func percentDecoded(_ string: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(string.utf8.count)
        var iterator = string.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func contentType(of path: String) -> String {
        switch path.split(separator: ".").last.map({ $0.lowercased() }) {
        case "html": "text/html; charset=utf-8"
        case "js", "mjs": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "json": "application/json"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "ico": "image/x-icon"
        case "txt", "md": "text/plain; charset=utf-8"
        case "webmanifest": "application/manifest+json"
        default: "application/octet-stream"
        }
    }
}

enum StaticFilesError: Error, CustomStringConvertible {
    case missingRoot(String)

    var description: String {
        switch self {
        case .missingRoot(let path):
            "no web root with an index.html at \(path) (leave out --web-root and PARLEY_WEB_ROOT to serve the built-in page)"
        }
    }
}

/// Serves ``StaticFiles`` for GET and HEAD requests that no route matched.
struct StaticFileMiddleware<Context: RequestContext>: RouterMiddleware {
    let files: StaticFiles

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            return try await next(request, context)
        }
        do {
            let response = try await next(request, context)
            guard response.status == .notFound else { return response }
        } catch let error as any HTTPResponseError where error.status == .notFound {
            // No route: fall through to the files.
        }
        switch files.lookup(rawPath: request.uri.path) {
        case .success(let file):
            var headers: HTTPFields = [.contentType: file.contentType, .cacheControl: "no-cache"]
            headers[.contentLength] = String(file.body.readableBytes)
            return Response(
                status: .ok,
                headers: headers,
                body: request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: file.body)
            )
        case .failure(.badRequest):
            return Self.plain(.badRequest, "bad request\n")
        case .failure(.notFound):
            return Self.plain(.notFound, "not found\n")
        }
    }

    private static func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text))
        )
    }
}

/// Headers every response carries: no MIME sniffing, and a Content-Security-Policy that lets a
/// page run only its own scripts and styles and talk only to its own origin (and WebSocket).
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    static var contentSecurityPolicy: String {
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            + "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return response
    }
}
