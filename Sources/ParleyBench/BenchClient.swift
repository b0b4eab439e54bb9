import Foundation
import HummingbirdWSClient
import Logging
import NIOCore

/// One WebSocket connection of the load generator: text frames go out through ``send(_:)``,
/// every text frame received is handed to the `onText` closure, in order, on the client's task.
final class BenchClient: Sendable {
    private let outgoing: AsyncStream<String>.Continuation
    private let task: Task<Void, Never>

    private init(outgoing: AsyncStream<String>.Continuation, task: Task<Void, Never>) {
        self.outgoing = outgoing
        self.task = task
    }

    deinit { outgoing.finish() }

    /// Opens a connection; returns once the WebSocket handshake is done. `onPolicyClose` is
    /// called if the server closes the connection with 1008 (its limits, not a failure).
    static func connect(
        _ url: String,
        onPolicyClose: @escaping @Sendable () -> Void = {},
        onText: @escaping @Sendable (String) -> Void
    ) async throws -> BenchClient {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        let (ready, readyContinuation) = AsyncStream.makeStream(of: Result<Void, any Error>.self)
        let task = Task {
            var logger = Logger(label: "parley-bench")
            logger.logLevel = .critical
            do {
                let closed = try await WebSocketClient.connect(
                    url: url,
                    configuration: .init(maxFrameSize: 1 << 24),
                    logger: logger
                ) { inbound, outbound, _ in
                    readyContinuation.yield(.success(()))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await text in stream { try await outbound.write(.text(text)) }
                            try await outbound.close(.normalClosure, reason: nil)
                        }
                        group.addTask {
                            for try await message in inbound.messages(maxSize: 1 << 24) {
                                if case .text(let text) = message { onText(text) }
                            }
                        }
                        try await group.next()
                        group.cancelAll()
                    }
                }
                if closed?.closeCode == .policyViolation { onPolicyClose() }
            } catch {
                readyContinuation.yield(.failure(error))
            }
            readyContinuation.finish()
        }
        var iterator = ready.makeAsyncIterator()
        switch await iterator.next() {
        case .success?:
            return BenchClient(outgoing: continuation, task: task)
        case .failure(let error)?:
            throw error
        case nil:
            throw BenchError("the connection to \(url) closed during the handshake")
        }
    }

    func send(_ text: String) {
        outgoing.yield(text)
    }

    /// Closes the connection (normal closure) and waits until it is gone.
    func close() async {
        outgoing.finish()
        await task.value
    }
}

/// A failure that ends a benchmark run, with a sentence for the operator.
public struct BenchError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
