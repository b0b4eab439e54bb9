public import Logging
public import ParleyCore
public import ServiceLifecycle

/// Settings of the chat itself, independent of any transport.
public struct ChatConfiguration: Sendable {
    /// Messages replayed on a join without `since`.
    public var historyOnJoin: Int
    /// The most rooms one connection may be in.
    public var maxRoomsPerConnection: Int
    /// The most bytes of frames waiting for one connection before it is closed as a slow
    /// consumer.
    public var maxQueuedBytes: Int
    /// The most members one room may have (0: no limit).
    public var maxMembersPerRoom: Int
    /// The longest message text, in Unicode scalars (at most the protocol's 4000).
    public var maxTextLength: Int
    /// How fast one connection may send commands.
    public var rateLimits: RateLimits
    /// How long a connection may stay open without having joined a room.
    public var joinTimeout: Duration
    /// How long a dropped connection's session keeps its nick and rooms for a `resume`
    /// (zero: it ends with the connection).
    public var sessionGrace: Duration
    /// The most bytes of recent messages all rooms keep in memory for joins, `since` replays
    /// and `history` pages (0: every replay reads the store). Each room keeps at most the
    /// ``ProtocolLimits/maxSinceReplay`` + 1 newest messages.
    public var recentMessagesMemory: Int

    public init(
        historyOnJoin: Int = 50,
        maxRoomsPerConnection: Int = 100,
        maxQueuedBytes: Int = 1 << 20,
        maxMembersPerRoom: Int = 10_000,
        maxTextLength: Int = MessageText.maxLength,
        rateLimits: RateLimits = RateLimits(),
        joinTimeout: Duration = .seconds(30),
        sessionGrace: Duration = .seconds(30),
        recentMessagesMemory: Int = 64 << 20
    ) {
        self.historyOnJoin = historyOnJoin
        self.maxRoomsPerConnection = maxRoomsPerConnection
        self.maxQueuedBytes = maxQueuedBytes
        self.maxMembersPerRoom = maxMembersPerRoom
        self.maxTextLength = min(maxTextLength, MessageText.maxLength)
        self.rateLimits = rateLimits
        self.joinTimeout = joinTimeout
        self.sessionGrace = sessionGrace
        self.recentMessagesMemory = recentMessagesMemory
    }
}

/// The chat, ready for a transport to attach connections to: the hub, the commit pipeline and
/// the store, and the services that must run for them.
public final class ChatService: Sendable {
    public let configuration: ChatConfiguration
    public let store: any MessageStore
    public let hub: ChatHub
    public let pipeline: CommitPipeline
    public let metrics: ChatMetrics
    let logger: Logger
    private let catchUp: RoomCatchUp
    /// Where sessions, nicks and members are shared across nodes, in a cluster.
    let directory: (any SessionDirectory)?

    /// - Parameter directory: in a cluster, where sessions, nicks and members are shared
    ///   across nodes.
    /// - Parameter committed: told, after each commit, the newest id each room of the batch
    ///   reached (a cluster node rings the other nodes with it).
    public init(
        store: any MessageStore,
        configuration: ChatConfiguration = ChatConfiguration(),
        metrics: ChatMetrics = .none,
        logger: Logger,
        committed: (@Sendable ([RoomName: Int64]) -> Void)? = nil,
        directory: (any SessionDirectory)? = nil
    ) {
        self.directory = directory
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.metrics = metrics
        let (catchUpRequests, catchUpQueue) = AsyncStream.makeStream(of: Void.self)
        self.hub = ChatHub(
            maxRoomsPerConnection: configuration.maxRoomsPerConnection,
            maxMembersPerRoom: configuration.maxMembersPerRoom,
            sessionGrace: configuration.sessionGrace,
            maxRecentBytes: store.tracksOutsideWrites ? configuration.recentMessagesMemory : 0,
            metrics: metrics,
            catchUpRequests: catchUpQueue,
            directory: directory
        )
        self.catchUp = RoomCatchUp(requests: catchUpRequests, store: store, hub: hub, logger: logger)
        self.pipeline = CommitPipeline(
            store: store,
            hub: hub,
            logger: logger,
            metrics: metrics,
            committed: committed
        )
    }

    /// A newly opened connection: its command router and the frames to write to it.
    public struct Connection: Sendable {
        public var session: ChatSession
        public var outgoing: Outbox.Drain
    }

    /// Registers a new connection, or returns `nil` when the server is shutting down.
    public func connect() async -> Connection? {
        let (outbox, outgoing) = Outbox.make(maxQueuedBytes: configuration.maxQueuedBytes)
        guard let id = await hub.connect(outbox: outbox) else { return nil }
        return Connection(session: ChatSession(connectionID: id, outbox: outbox, chat: self), outgoing: outgoing)
    }

    /// Forgets a connection that closed.
    public func disconnect(_ id: ConnectionID) async {
        await hub.disconnect(id)
    }

    /// The service that commits messages. Run it before the transport and stop it after, so that
    /// whatever was accepted gets committed.
    public var commitService: any Service { pipeline }

    /// The service that, on graceful shutdown, commits what was accepted and then closes every
    /// connection with 1001 (going away). Run it after the transport so it stops first.
    public var drainService: any Service { ConnectionDrainer(chat: self) }

    /// The service that reads from the store what members miss (messages other nodes committed).
    public var catchUpService: any Service { catchUp }

    /// The service that closes connections that have joined no room within the join timeout.
    public var joinTimeoutService: any Service { JoinTimeoutSweeper(chat: self) }

    /// The service that makes the hub forget the recent messages it keeps when another program
    /// changed the store.
    public var outsideWritesService: any Service { OutsideWritesWatch(chat: self) }
}

/// Checks the store's ``MessageStore/outsideRevision()`` every second: after an operator's
/// `parley prune` or `parley import`, the rooms' recent messages kept in memory are forgotten,
/// so that the next replays read the store.
struct OutsideWritesWatch: Service {
    static let interval: Duration = .seconds(1)
    let chat: ChatService

    func run() async throws {
        guard chat.store.tracksOutsideWrites, chat.configuration.recentMessagesMemory > 0 else {
            // Nothing to watch; a service that returned would end the whole group.
            try? await gracefulShutdown()
            return
        }
        try? await cancelWhenGracefulShutdown {
            var revision = try? await chat.store.outsideRevision()
            while true {
                try await Task.sleep(for: Self.interval)
                guard let now = try? await chat.store.outsideRevision(), now != revision else { continue }
                if revision != nil { chat.logger.info("Another program changed the store; replays read it again") }
                await chat.hub.forgetRecentMessages()
                revision = now
            }
        }
    }
}

/// Closes connections that joined nothing in time, checking a few times per timeout.
struct JoinTimeoutSweeper: Service {
    let chat: ChatService

    func run() async throws {
        let timeout = chat.configuration.joinTimeout
        let interval = min(.seconds(1), timeout / 4)
        // Nothing to finish on shutdown: stop at once.
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: interval)
                await chat.hub.closeConnectionsThatJoinedNothing(within: timeout)
            }
        }
    }
}

/// Closes all connections cleanly when graceful shutdown begins.
struct ConnectionDrainer: Service {
    let chat: ChatService

    func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            return  // cancelled: the group is going down without a graceful phase
        }
        chat.logger.info("Shutting down: committing accepted messages and closing connections")
        await chat.pipeline.flush()
        await chat.hub.closeAll(.goingAway)
        await chat.hub.waitUntilEmpty()
    }
}
