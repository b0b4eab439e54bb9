import Synchronization

/// A connection used request by request: each command waits for its reply (matched by `ref`),
/// and a join also for the `history` event that follows its `joined`.
final class Requester: Sendable {
    private let client: BenchClient
    private let waiters: Waiters

    private final class Waiters: Sendable {
        struct State {
            var byRef: [String: CheckedContinuation<String, any Error>] = [:]
            var history: CheckedContinuation<String, any Error>?
            /// A `history` event that came before anyone waited for it.
            var earlyHistory: String?
        }
        let state = Mutex(State())

        func receive(_ text: String) {
            var bytes = text
            let (isHistory, ref) = bytes.withUTF8 { bytes -> (Bool, String?) in
                // A `history` event that answers no `history` command (its ref would start with
                // "h") is a join's; its ref, when it has one, is its last field.
                if bytes.hasPrefix(#"{"type":"history""#),
                    bytes.offset(of: #""ref":"h"#, from: max(0, bytes.count - 100)) == nil
                {
                    return (true, nil)
                }
                guard let start = bytes.offset(of: #""ref":""#) else { return (false, nil) }
                let value = UnsafeBufferPointer(rebasing: bytes[(start + 7)...])
                guard let end = value.firstIndex(of: UInt8(ascii: "\"")) else { return (false, nil) }
                return (false, String(decoding: UnsafeBufferPointer(rebasing: value[..<end]), as: UTF8.self))
            }
            let waiter = state.withLock { state -> CheckedContinuation<String, any Error>? in
                if isHistory {
                    guard let history = state.history else {
                        state.earlyHistory = text
                        return nil
                    }
                    state.history = nil
                    return history
                }
                guard let ref else { return nil }
                return state.byRef.removeValue(forKey: ref)
            }
            waiter?.resume(returning: text)
        }
    }

    private init(client: BenchClient, waiters: Waiters) {
        self.client = client
        self.waiters = waiters
    }

    static func connect(_ url: String) async throws -> Requester {
        let waiters = Waiters()
        let client = try await BenchClient.connect(url) { waiters.receive($0) }
        return Requester(client: client, waiters: waiters)
    }

    /// Sends `command` (a JSON object text ending in `,"ref":"<ref>"}`) and returns the reply.
    func request(_ command: String, ref: String) async throws -> String {
        let reply = try await withCheckedThrowingContinuation { continuation in
            waiters.state.withLock { $0.byRef[ref] = continuation }
            client.send(command)
        }
        if reply.hasPrefix(#"{"type":"error""#) { throw BenchError("the server refused \(command): \(reply)") }
        return reply
    }

    /// Joins `room` and returns the `history` event that follows.
    func join(room: String, nick: String, since: Int64? = nil) async throws -> String {
        let sinceField = since.map { #","since":\#($0)"# } ?? ""
        waiters.state.withLock { $0.earlyHistory = nil }
        _ = try await request(
            #"{"type":"join","room":"\#(room)","nick":"\#(nick)"\#(sinceField),"ref":"join"}"#,
            ref: "join"
        )
        return try await withCheckedThrowingContinuation { continuation in
            let early = waiters.state.withLock { state -> String? in
                defer { state.earlyHistory = nil }
                if state.earlyHistory == nil { state.history = continuation }
                return state.earlyHistory
            }
            if let early { continuation.resume(returning: early) }
        }
    }

    func close() async { await client.close() }
}
