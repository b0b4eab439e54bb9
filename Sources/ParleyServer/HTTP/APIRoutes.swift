import Hummingbird
import NIOCore
import ParleyChat
import ParleyCore

/// The JSON API: health, rooms, and pages of history.
struct APIRoutes: Sendable {
    let chat: ChatService

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/healthz") { _, _ in
            // Unhealthy while the store refuses commits: a load balancer should send new users
            // elsewhere until it recovers (which the next successful commit shows).
            await chat.pipeline.isStoreHealthy
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
    }

    /// `{"rooms":[{"name":"general","members":2,"messages":130}]}`, rooms sorted by name: every
    /// room with stored messages or current members.
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
        let members = await chat.hub.memberCounts()
        var counts: [RoomName: (members: Int, messages: Int)] = [:]
        for room in stored { counts[room.name] = (0, room.messageCount) }
        for (room, count) in members { counts[room, default: (0, 0)].members = count }
        var body = "{\"rooms\":["
        for (index, (room, count)) in counts.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { body += "," }
            body +=
                "{\"name\":\(ServerEvent.jsonString(room.value)),\"members\":\(count.members),\"messages\":\(count.messages)}"
        }
        body += "]}"
        return Self.json(.ok, body)
    }

    /// A page of a room's history: the same object as the WebSocket `history` event.
    private func messages<Context: RequestContext>(_ request: Request, context: Context) async throws -> Response {
        guard let rawRoom = context.parameters.get("room"), let room = RoomName(rawRoom) else {
            return Self.error(.badRequest, ChatError.invalidRoomName)
        }
        let query = request.uri.queryParameters
        func integer(_ name: String) throws(ChatError) -> Int64? {
            guard let raw = query[name[...]] else { return nil }
            guard let value = Int64(raw) else { throw ChatError.badRequest("\(name) must be a whole number.") }
            return value
        }
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
