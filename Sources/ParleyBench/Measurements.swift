import Foundation

/// Nanoseconds on the monotonic clock, comparable across the generator's threads.
func monotonicNanoseconds() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}

/// Percentiles of a set of durations, in milliseconds.
public struct LatencySummary: Sendable, Codable, Equatable {
    public var count: Int
    public var p50: Double
    public var p99: Double
    public var p999: Double
    public var max: Double

    /// Summarises `samples` (nanoseconds).
    init(nanoseconds samples: [Int64]) {
        let sorted = samples.sorted()
        func at(_ fraction: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let index = Swift.min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.down)))
            return Double(sorted[index]) / 1e6
        }
        count = sorted.count
        p50 = at(0.5)
        p99 = at(0.99)
        p999 = at(0.999)
        max = Double(sorted.last ?? 0) / 1e6
    }
}

/// CPU time and memory of a process, from the kernel: the generator's own (so that a saturated
/// generator is never mistaken for a slow server) and, given its PID, the server's.
public struct ProcessUsage: Sendable {
    /// CPU seconds (user + system) used so far.
    public var cpuSeconds: Double
    /// Resident memory in bytes (0 when unknown).
    public var residentBytes: Int

    /// This process.
    public static func current() -> ProcessUsage {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu =
            Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
        return ProcessUsage(cpuSeconds: cpu, residentBytes: residentBytes(pid: "self") ?? 0)
    }

    /// Another process on this machine, from /proc; `nil` if it is not there.
    public static func of(pid: Int32) -> ProcessUsage? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ProcessUsage(cpuSeconds: (user + system) / ticks, residentBytes: residentBytes(pid: "\(pid)") ?? 0)
    }

    private static func residentBytes(pid: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            return kilobytes.map { $0 * 1024 }
        }
        return nil
    }
}

/// CPU use of the generator and, when its PID is known, of the server, over a window.
public struct CPUWindow: Sendable {
    private let start: Int64
    private let generator: ProcessUsage
    private let serverPID: Int32?
    private let server: ProcessUsage?

    public init(serverPID: Int32?) {
        start = monotonicNanoseconds()
        generator = .current()
        self.serverPID = serverPID
        server = serverPID.flatMap(ProcessUsage.of(pid:))
    }

    /// Percent of one core used by the generator and the server since the window started.
    public func percentages() -> (generator: Double, server: Double?) {
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        let generatorNow = ProcessUsage.current()
        let generatorPercent = (generatorNow.cpuSeconds - generator.cpuSeconds) / seconds * 100
        guard let serverPID, let server, let serverNow = ProcessUsage.of(pid: serverPID) else {
            return (generatorPercent, nil)
        }
        return (generatorPercent, (serverNow.cpuSeconds - server.cpuSeconds) / seconds * 100)
    }
}
