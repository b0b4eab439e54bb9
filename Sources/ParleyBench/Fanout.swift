import Foundation
import Synchronization

/// The `fanout` scenario: R rooms of C clients, S of them senders, for a fixed time; counts every
/// delivery, checks that each receiver got each sender's messages once and in order, and times
/// them from send to receive (the send time travels inside the text).
///
/// Given several URLs (the nodes of a cluster), clients are spread over them round robin, and
/// deliveries from a sender on another node are also timed on their own: the cross-node latency.
public struct FanoutBench: Sendable {
    public struct Options: Sendable {
        /// The WebSocket URLs of the server, or of the nodes of a cluster.
        public var urls: [String]
        public var rooms = 1
        public var clientsPerRoom = 100
        public var sendersPerRoom = 10
        /// Messages per second per sender; 0: as fast as acks allow, `window` in flight.
        public var rate = 0.0
        public var window = 4
        public var textBytes = 64
        public var warmup: Duration = .seconds(2)
        public var duration: Duration = .seconds(10)
        /// How long to wait after the run for messages still on their way.
        public var drain: Duration = .seconds(5)
        public var serverPID: Int32?
        public var roomPrefix = BenchNames.defaultRoomPrefix
        /// The transport every client speaks.
        public var transport = BenchTransport.webSocket

        public init(url: String) { self.urls = [url] }
        public init(urls: [String]) { self.urls = urls }

        /// The node (index into ``urls``) of the `slot`th client of room `room`.
        func node(room: Int, slot: Int) -> Int { (room * clientsPerRoom + slot) % urls.count }

        /// The node of the sender with `senderID`.
        func node(ofSender senderID: Int) -> Int {
            node(room: senderID / sendersPerRoom, slot: senderID % sendersPerRoom)
        }
    }

    /// What a run measured.
    public struct Report: Sendable, Codable {
        public var scenario = "fanout"
        public var rooms: Int
        public var clientsPerRoom: Int
        public var sendersPerRoom: Int
        public var seconds: Double
        public var sendsPerSecond: Double
        public var deliveriesPerSecond: Double
        public var latency: LatencySummary
        /// With several nodes: the deliveries to a client on another node than the sender's.
        public var crossNodeLatency: LatencySummary?
        public var nodes: Int
        public var ackLatency: LatencySummary
        /// Messages sent (the whole run, warm-up included) times the members of their room.
        public var expected: Int
        public var received: Int
        public var lost: Int
        public var duplicated: Int
        public var errors: Int
        /// Load the server refused: when any, `lost` is not loss and the rates are not its speed.
        public var limits: LimitsHit
        public var generatorCPUPercent: Double
        public var serverCPUPercent: Double?
        public var serverMicrosecondsPerDelivery: Double?
    }

    public let options: Options
    public init(_ options: Options) { self.options = options }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Report {
        let names = BenchNames(roomPrefix: options.roomPrefix)
        let clock = RunClock()
        let policyCloses = Atomic<Int>(0)
        var members: [Member] = []
        var clients: [BenchClient] = []
        // Connect and join everyone before the clock starts; a few at a time, as clients would.
        for room in 0..<options.rooms {
            for slot in 0..<options.clientsPerRoom {
                let isSender = slot < options.sendersPerRoom
                let node = options.node(room: room, slot: slot)
                let member = Member(
                    room: names.room("r\(room)"),
                    senderID: isSender ? room * options.sendersPerRoom + slot : nil,
                    node: node,
                    options: options,
                    clock: clock
                )
                let client = try await BenchClient.connect(
                    options.urls[node],
                    over: options.transport,
                    onPolicyClose: { policyCloses.add(1, ordering: .relaxed) },
                    onText: { member.receive($0) }
                )
                member.client = client
                try await member.join(nick: names.nick("c\(room)x\(slot)"))
                members.append(member)
                clients.append(client)
            }
            progress("joined \(members.count) of \(options.rooms * options.clientsPerRoom) clients")
        }
        let now = monotonicNanoseconds()
        let measureStart = now + options.warmup.nanoseconds
        let measureEnd = measureStart + options.duration.nanoseconds
        clock.set(start: measureStart, end: measureEnd)
        let senders = members.filter { $0.senderID != nil }
        for sender in senders { sender.startSending() }

        try await Task.sleep(for: options.warmup)
        let cpu = CPUWindow(serverPID: options.serverPID)
        var last = members.reduce(0) { $0 + $1.receivedCount }
        while monotonicNanoseconds() < measureEnd {
            try await Task.sleep(for: .seconds(1))
            let total = members.reduce(0) { $0 + $1.receivedCount }
            let (generator, server) = cpu.percentages()
            let serverText = server.map { String(format: ", server CPU %.0f%%", $0) } ?? ""
            progress(
                String(format: "%@ deliveries/s, generator CPU %.0f%%%@", (total - last).grouped, generator, serverText)
            )
            last = total
        }
        let (generatorCPU, serverCPU) = cpu.percentages()
        for sender in senders { sender.stopSending() }

        // Wait for what is still on its way, then count.
        let sent = { senders.reduce(into: [String: Int]()) { $0[$1.room, default: 0] += $1.sentCount } }
        let expected = { () -> Int in
            let perRoom = sent()
            return members.reduce(0) { $0 + (perRoom[$1.room] ?? 0) }
        }
        let drainEnd = monotonicNanoseconds() + options.drain.nanoseconds
        while monotonicNanoseconds() < drainEnd {
            // Distinct deliveries: a message that came twice must not stand in for one still on its way.
            if senders.allSatisfy({ $0.inFlight == 0 }), members.reduce(0, { $0 + $1.distinctCount }) >= expected() {
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        var finalSequences: [String: [Int: Int]] = [:]
        for sender in senders { finalSequences[sender.room, default: [:]][sender.senderID!] = sender.sentCount }
        let results = members.map { $0.results(finalSequences: finalSequences[$0.room] ?? [:]) }
        for client in clients { await client.close() }

        let seconds = Double(options.duration.nanoseconds) / 1e9
        let deliveries = results.reduce(0) { $0 + $1.receivedInWindow }
        let deliveriesPerSecond = Double(deliveries) / seconds
        return Report(
            rooms: options.rooms,
            clientsPerRoom: options.clientsPerRoom,
            sendersPerRoom: options.sendersPerRoom,
            seconds: seconds,
            sendsPerSecond: Double(senders.reduce(0) { $0 + $1.sentInWindow }) / seconds,
            deliveriesPerSecond: deliveriesPerSecond,
            latency: LatencySummary(nanoseconds: results.flatMap(\.latencies)),
            crossNodeLatency: options.urls.count > 1
                ? LatencySummary(nanoseconds: results.flatMap(\.crossNodeLatencies)) : nil,
            nodes: options.urls.count,
            ackLatency: LatencySummary(nanoseconds: senders.flatMap(\.ackLatencies)),
            expected: expected(),
            received: results.reduce(0) { $0 + $1.received },
            lost: results.reduce(0) { $0 + $1.lost },
            duplicated: results.reduce(0) { $0 + $1.duplicated },
            errors: results.reduce(0) { $0 + $1.errors },
            limits: LimitsHit(
                rateLimited: results.reduce(0) { $0 + $1.rateLimited },
                policyCloses: policyCloses.load(ordering: .relaxed)
            ),
            generatorCPUPercent: generatorCPU,
            serverCPUPercent: serverCPU,
            serverMicrosecondsPerDelivery: serverCPU.map { $0 / 100 * 1e6 / max(deliveriesPerSecond, 1) }
        )
    }
}

/// When the measured window starts and ends, set once all clients have joined.
final class RunClock: Sendable {
    private let start = Atomic<Int64>(.max)
    private let end = Atomic<Int64>(.max)

    func set(start: Int64, end: Int64) {
        self.start.store(start, ordering: .relaxed)
        self.end.store(end, ordering: .relaxed)
    }

    func contains(_ time: Int64) -> Bool {
        time >= start.load(ordering: .relaxed) && time < end.load(ordering: .relaxed)
    }
}

/// One client of the fan-out: receives and checks every message of its room; a sender also
/// sends, keeping `window` messages in flight or a fixed rate.
final class Member: Sendable {
    let room: String
    let senderID: Int?
    /// Which of the URLs it is connected to.
    let node: Int
    private let options: FanoutBench.Options
    private let clock: RunClock
    private let state = Mutex(State())
    private let connection = Mutex<BenchClient?>(nil)

    struct State {
        var received = 0
        var receivedInWindow = 0
        var latencies: [Int64] = []
        var crossNodeLatencies: [Int64] = []
        /// Per sender: the last sequence number received.
        var lastSequence: [Int: Int] = [:]
        var gaps = 0
        var duplicated = 0
        var errors = 0
        var rateLimited = 0
        var joinWaiter: CheckedContinuation<Void, any Error>?
        var awaitingHistory = false
        // Sender side.
        var sending = false
        var nextSequence = 0
        var inFlight = 0
        var sentInWindow = 0
        var ackLatencies: [Int64] = []
    }

    struct Results {
        var received: Int
        var receivedInWindow: Int
        var latencies: [Int64]
        var crossNodeLatencies: [Int64]
        var lost: Int
        var duplicated: Int
        var errors: Int
        var rateLimited: Int
    }

    init(room: String, senderID: Int?, node: Int, options: FanoutBench.Options, clock: RunClock) {
        self.room = room
        self.senderID = senderID
        self.node = node
        self.options = options
        self.clock = clock
    }

    var client: BenchClient? {
        get { connection.withLock { $0 } }
        set { connection.withLock { $0 = newValue } }
    }

    func join(nick: String) async throws {
        try await withCheckedThrowingContinuation { continuation in
            state.withLock {
                $0.joinWaiter = continuation
                $0.awaitingHistory = true
            }
            client?.send(#"{"type":"join","room":"\#(room)","nick":"\#(nick)","ref":"join"}"#)
        }
    }

    var receivedCount: Int { state.withLock { $0.received } }
    var distinctCount: Int { state.withLock { $0.received - $0.duplicated } }
    var sentCount: Int { state.withLock { $0.nextSequence } }
    var sentInWindow: Int { state.withLock { $0.sentInWindow } }
    var inFlight: Int { state.withLock { $0.inFlight } }
    var ackLatencies: [Int64] { state.withLock { $0.ackLatencies } }

    /// - Parameter finalSequences: the last sequence number each sender of this room sent.
    func results(finalSequences: [Int: Int]) -> Results {
        state.withLock { state in
            // A sender's messages this member never saw at the end count as lost too.
            var missing = state.gaps
            for (sender, final) in finalSequences {
                missing += max(0, final - (state.lastSequence[sender] ?? 0))
            }
            return Results(
                received: state.received,
                receivedInWindow: state.receivedInWindow,
                latencies: state.latencies,
                crossNodeLatencies: state.crossNodeLatencies,
                lost: missing,
                duplicated: state.duplicated,
                errors: state.errors,
                rateLimited: state.rateLimited
            )
        }
    }

    // MARK: Sending

    func startSending() {
        state.withLock { $0.sending = true }
        if options.rate > 0 {
            Task { await sendAtFixedRate() }
        } else {
            for _ in 0..<options.window { sendNext() }
        }
    }

    func stopSending() {
        state.withLock { $0.sending = false }
    }

    private func sendAtFixedRate() async {
        let interval = Int64(1e9 / options.rate)
        var next = monotonicNanoseconds()
        while state.withLock({ $0.sending }) {
            sendNext()
            next += interval
            let wait = next - monotonicNanoseconds()
            if wait > 0 { try? await Task.sleep(for: .nanoseconds(wait)) }
        }
    }

    private func sendNext() {
        guard let senderID else { return }
        let now = monotonicNanoseconds()
        let sequence: Int? = state.withLock { state in
            guard state.sending else { return nil }
            state.nextSequence += 1
            state.inFlight += 1
            if clock.contains(now) { state.sentInWindow += 1 }
            return state.nextSequence
        }
        guard let sequence else { return }
        var text = "~B~\(now.padded(19))~\(senderID.padded(6))~\(sequence.padded(10))~"
        if text.utf8.count < options.textBytes {
            text += String(repeating: "x", count: options.textBytes - text.utf8.count)
        }
        client?.send(#"{"type":"say","room":"\#(room)","text":"\#(text)","ref":"s\#(now)"}"#)
    }

    // MARK: Receiving

    func receive(_ text: String) {
        var bytes = text
        bytes.withUTF8 { receive(bytes: $0, text: text) }
    }

    private func receive(bytes: UnsafeBufferPointer<UInt8>, text: String) {
        let now = monotonicNanoseconds()
        if let marker = bytes.offset(of: "~B~") {
            // ~B~<sent, 19 digits>~<sender, 6>~<sequence, 10>~
            let start = marker + 3
            guard start + 37 <= bytes.count,
                let sent: Int64 = bytes.number(at: start),
                let sender: Int = bytes.number(at: start + 20, maxLength: 6),
                let sequence: Int = bytes.number(at: start + 27, maxLength: 10)
            else { return }
            let inWindow = clock.contains(sent)
            let isCrossNode = options.urls.count > 1 && options.node(ofSender: sender) != node
            state.withLock { state in
                state.received += 1
                if clock.contains(now) { state.receivedInWindow += 1 }
                if inWindow {
                    state.latencies.append(now - sent)
                    if isCrossNode { state.crossNodeLatencies.append(now - sent) }
                }
                let last = state.lastSequence[sender] ?? 0
                if sequence <= last {
                    state.duplicated += 1
                } else {
                    state.gaps += sequence - last - 1
                    state.lastSequence[sender] = sequence
                }
            }
            return
        }
        let isError = bytes.hasPrefix(#"{"type":"error""#)
        if isError || bytes.hasPrefix(#"{"type":"ack""#) {
            let isRateLimited = isError && bytes.offset(of: #""code":"rate_limited""#) != nil
            guard let refStart = bytes.offset(of: #""ref":"s"#) else {
                if isError { failJoin(text) }
                return
            }
            let sent: Int64 = bytes.number(at: refStart + 8) ?? now
            let resend = state.withLock { state -> Bool in
                state.inFlight -= 1
                if isRateLimited {
                    state.rateLimited += 1
                } else if isError {
                    state.errors += 1
                }
                if clock.contains(sent) { state.ackLatencies.append(now - sent) }
                return state.sending && options.rate == 0
            }
            if resend { sendNext() }
            return
        }
        if bytes.hasPrefix(#"{"type":"history""#) {
            let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard state.awaitingHistory else { return nil }
                state.awaitingHistory = false
                defer { state.joinWaiter = nil }
                return state.joinWaiter
            }
            waiter?.resume()
        }
    }

    private func failJoin(_ text: String) {
        let waiter = state.withLock { state in
            defer { state.joinWaiter = nil }
            return state.joinWaiter
        }
        waiter?.resume(throwing: BenchError("the server refused a join: \(text)"))
    }
}
