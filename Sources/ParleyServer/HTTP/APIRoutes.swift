import Hummingbird
import NIOCore
import ParleyChat
import ParleyCluster
import ParleyCore

/// The JSON API: health, the room directory, pages of history, and search.
struct APIRoutes: Sendable {
    let chat: ChatService
    /// A cluster node's view of PostgreSQL (`nil` on SQLite).
    var databaseStatus: DatabaseStatus? = nil

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/healthz") { [databaseStatus] _, _ in
            // Unhealthy while the store refuses commits, or a cluster node cannot reach
            // PostgreSQL: a load balancer should send new users elsewhere until it recovers
            // (which the next successful commit or poll shows).
            if await databaseStatus?.isReachable == false {
                return Self.json(
                    .serviceUnavailable,
                    "{\"status\":\"unavailable\",\"reason\":\"the database is unreachable\"}"
                )
            }
            return await chat.pipeline.isStoreHealthy
                ? Self.json(.ok, "{\"status\":\"ok\"}")
                : Self.json(
                    .serviceUnavailable,
                    "{\"status\":\"unavailable\",\"reason\":\"the message store is failing\"}"
                )
        }
        router.get("/ws") { _, _ in
            Response(
                status: .upgradeRequired,
                headers: [
                    .contentType: "text/plain; charset=utf-8", .upgrade: "websocket", .secWebSocketVersion: "13",
                ],
                body: ResponseBody(
                    byteBuffer: ByteBuffer(
                        string: "This is Parley's WebSocket endpoint; connect with a WebSocket client.\n"
                    )
                )
            )
        }
        router.get("/api/rooms") { _, _ in
            try await self.rooms()
        }
        router.get("/api/rooms/{room}/messages") { request, context in
            try await self.messages(request, context: context)
        }
        router.get("/api/rooms/{room}/search") { request, context in
            try await self.search(request, context: context)
        }
    }

    /// `{"rooms":[{"name":"general","members":2,"messages":130,"last_message_at":"…"}]}`, sorted
    /// by name: every room with stored messages or current members.
    private func rooms() async throws -> Response {
        let stored: [StoredRoom]
        do {
            stored = try await chat.store.rooms()
        } catch {
            return Self.error(
                .serviceUnavailable,
                ChatError(.unavailable, "The message store cannot be read right now.")
            )
        }
        var listings: [RoomName: RoomListing] = [:]
        for room in stored {
            listings[room.name] = RoomListing(
                name: room.name,
                members: 0,
                messages: room.messageCount,
                lastMessageAt: room.lastMessageAt
            )
        }
        for (room, count) in await chat.hub.memberCounts() {
            listings[room, default: RoomListing(name: room, members: 0, messages: 0, lastMessageAt: nil)].members =
                count
        }
        let sorted = listings.values.sorted { $0.name < $1.name }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ServerEvent.roomDirectory(sorted))
        )
    }

    /// A page of a room's history: the same object as the WebSocket `history` event.
    private func messages<Context: RequestContext>(_ request: Request, context: Context) async throws -> Response {
        guard let rawRoom = context.parameters.get("room"), let room = RoomName(rawRoom) else {
            return Self.error(.badRequest, ChatError.invalidRoomName)
        }
        let integer = Self.wholeNumbers(in: request)
        let page: HistoryPage
        do throws(ChatError) {
            let limit = try integer("limit").map { Int(clamping: $0) }
            page = try HistoryPage.requested(before: try integer("before"), after: try integer("after"), limit: limit)
        } catch {
            return Self.error(.badRequest, error)
        }
        do {
            let slice = try await chat.store.history(of: room, page)
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ServerEvent.history(room: room, slice: slice, ref: nil))
            )
        } catch {
            return Self.error(.serviceUnavailable, ChatError(.unavailable, "History cannot be read right now."))
        }
    }

    /// Full-text search in one room: `?q=` in the syntax of `parley history --grep`, with
    /// `before` and `limit` (1-50) to page back; the same object as the WebSocket `search` event.
    private func search<Context: RequestContext>(_ request: Request, context: Context) async throws -> Response {
        guard let rawRoom = context.parameters.get("room"), let room = RoomName(rawRoom) else {
            return Self.error(.badRequest, ChatError.invalidRoomName)
        }
        let integer = Self.wholeNumbers(in: request)
        let page: SearchPage
        do throws(ChatError) {
            page = try SearchPage.requested(
                query: request.uri.queryParameters["q"].map(String.init),
                before: try integer("before"),
                limit: try integer("limit").map { Int(clamping: $0) }
            )
        } catch {
            return Self.error(.badRequest, error)
        }
        do {
            let slice = try await chat.store.search(in: room, page)
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(
                    byteBuffer: ServerEvent.searchResults(room: room, query: page.query.text, slice: slice, ref: nil)
                )
            )
        } catch {
            return Self.error(.serviceUnavailable, ChatError(.unavailable, "Search is not available right now."))
        }
    }

    /// Reads whole-number query parameters, refusing one that is present but not a number.
    private static func wholeNumbers(in request: Request) -> (String) throws(ChatError) -> Int64? {
        let query = request.uri.queryParameters
        return { name throws(ChatError) in
            guard let raw = query[name[...]] else { return nil }
            guard let value = Int64(raw) else { throw ChatError.badRequest("\(name) must be a whole number.") }
            return value
        }
    }

    private static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body))
        )
    }

    private static func error(_ status: HTTPResponse.Status, _ error: ChatError) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ServerEvent.error(error, ref: nil))
        )
    }
}
