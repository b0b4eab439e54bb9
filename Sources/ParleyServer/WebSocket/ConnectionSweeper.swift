import NIOCore
import ServiceLifecycle

/// A connection whose timers the sweep of its event loop checks.
protocol SweptConnection: AnyObject {
    /// The connection's place in its loop's sweep (kept by the sweeper).
    var sweepSlot: Int { get set }
    /// Checks the connection's deadlines; called on its event loop, every tick.
    func sweep(now: NIODeadline)
}

/// The timers of every long-lived connection (WebSockets and event streams): one repeating sweep
/// per event loop pings quiet clients and drops those that answer neither a ping nor a close in
/// time.
///
/// A timer (or a sleeping task) per connection would cost memory for every idle connection; a
/// sweep costs a pass over the loop's connections every ``tick``, on the loop that owns them,
/// so nothing is shared between threads and no lock is taken.
final class ConnectionSweeper: Service, Sendable {
    /// The connections of one event loop.
    private final class LoopConnections {
        var connections: [any SweptConnection] = []

        func add(_ connection: any SweptConnection) {
            connection.sweepSlot = connections.count
            connections.append(connection)
        }

        func remove(_ connection: any SweptConnection) {
            let slot = connection.sweepSlot
            guard slot >= 0, slot < connections.count, connections[slot] === connection else { return }
            let last = connections.removeLast()
            if slot < connections.count {
                connections[slot] = last
                last.sweepSlot = slot
            }
            connection.sweepSlot = -1
        }

        func sweep() {
            let now = NIODeadline.now()
            // A sweep may close connections, which removes them from the array: this walks the
            // array as it was.
            for connection in connections { connection.sweep(now: now) }
        }
    }

    private let loops: [ObjectIdentifier: NIOLoopBoundBox<LoopConnections>]
    /// How often each loop sweeps; a deadline is met within one tick.
    let tick: TimeAmount

    init(group: any EventLoopGroup, tick: TimeAmount) {
        var loops: [ObjectIdentifier: NIOLoopBoundBox<LoopConnections>] = [:]
        for loop in group.makeIterator() {
            loops[ObjectIdentifier(loop)] = .makeBoxSendingValue(LoopConnections(), eventLoop: loop)
        }
        self.loops = loops
        self.tick = tick
    }

    /// Adds a connection to the sweep of `loop`, its channel's event loop (called there).
    func add(_ connection: any SweptConnection, on loop: any EventLoop) {
        loops[ObjectIdentifier(loop)]?.value.add(connection)
    }

    /// Removes a connection from the sweep (called on its event loop).
    func remove(_ connection: any SweptConnection, on loop: any EventLoop) {
        loops[ObjectIdentifier(loop)]?.value.remove(connection)
    }

    /// Sweeps until the service group shuts down. Run it before the HTTP server in the group,
    /// so that it still sweeps while the connections close.
    func run() async throws {
        let tick = self.tick
        let sweeps = loops.values.map { connections in
            connections.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in
                connections.value.sweep()
            }
        }
        try? await gracefulShutdown()
        for sweep in sweeps { sweep.cancel() }
    }
}
