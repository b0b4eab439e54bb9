import NIOCore
import ParleyCore

/// The newest messages of one room, each kept as the `message` event it was broadcast as, so
/// that a join, a `since` replay or a `history` page is answered from memory instead of the
/// store.
///
/// It holds *every* message of the room with an id in the range `(coveredAfter, coveredThrough]`
/// and knows nothing outside it: a committed message is the range `(id - 1, id]`, a history
/// read from the store the range the read saw whole. Ranges that meet are joined; a newer range
/// apart from the kept one replaces it (a gap the hub could not fill), and an older one is
/// ignored. A page it cannot answer completely from the range is read from the store.
struct RecentMessages {
    /// A message's id and its encoded `message` event.
    typealias Entry = (id: Int64, frame: ByteBuffer)

    /// What a kept entry costs beyond its frame's bytes (the entry, the buffer's storage).
    static let overheadPerEntry = 64

    private var entries = CircularBuffer<Entry>()
    /// `(after, through]`: the ids the entries are every message of; `nil` before anything is kept.
    private(set) var covered: (after: Int64, through: Int64)?
    /// What the entries cost, about: their frames' bytes plus ``overheadPerEntry`` each.
    private(set) var bytes = 0

    var count: Int { entries.count }

    /// Adds `added` (ascending ids), which are every message of the room in `(after, through]`.
    mutating func add(_ added: some Collection<Entry>, after: Int64, through: Int64) {
        guard after <= through else { return }
        guard let current = covered, after <= current.through, current.after <= through else {
            // Apart from the kept range: a newer range with messages replaces it (the room moved
            // on past a gap); anything else adds nothing that could answer a page.
            if covered == nil || (after > covered!.through && !added.isEmpty) {
                replace(with: added, after: after, through: through)
            }
            return
        }
        if after == current.through {
            // The common case: the next message(s) of the room.
            for entry in added { append(entry) }
            covered = (current.after, through)
            return
        }
        // Overlapping ranges: keep both sides' messages, each id once.
        var merged = CircularBuffer<Entry>(initialCapacity: entries.count + added.count)
        var kept = entries.makeIterator()
        var incoming = added.makeIterator()
        var nextKept = kept.next()
        var nextIncoming = incoming.next()
        while nextKept != nil || nextIncoming != nil {
            if let k = nextKept, nextIncoming == nil || k.id <= nextIncoming!.id {
                if nextIncoming?.id == k.id { nextIncoming = incoming.next() }
                merged.append(k)
                nextKept = kept.next()
            } else if let i = nextIncoming {
                merged.append(i)
                nextIncoming = incoming.next()
            }
        }
        entries = merged
        bytes = entries.reduce(0) { $0 + Self.cost(of: $1) }
        covered = (min(after, current.after), max(through, current.through))
    }

    /// Forgets the oldest entries until at most `count` remain and they cost at most `bytes`.
    mutating func trim(toCount count: Int, bytes maxBytes: Int = .max) {
        while let first = entries.first, entries.count > count || bytes > maxBytes {
            bytes -= Self.cost(of: first)
            entries.removeFirst()
            covered?.after = first.id
        }
    }

    /// Forgets everything.
    mutating func removeAll() {
        entries.removeAll()
        covered = nil
        bytes = 0
    }

    /// The answer to `page` if the kept range holds all of it: the frames, oldest first, and
    /// whether more messages lie beyond the page (as ``HistorySlice/truncated`` says). `nil`
    /// when the store must be read: the range does not reach `roomLastID` (the newest id the
    /// room is known to have), or does not go back far enough to fill the page or to tell
    /// whether older messages exist.
    func page(_ page: HistoryPage, roomLastID: Int64) -> (frames: [ByteBuffer], truncated: Bool)? {
        guard let covered, covered.through >= roomLastID else { return nil }
        switch page {
        case .after(let id, let limit):
            guard id >= covered.after else { return nil }
            let start = firstIndex(after: id)
            let available = entries.count - start
            let taken = min(limit, available)
            return (frames(from: start, count: taken), available > limit)
        case .latest(let limit):
            return older(than: entries.count, limit: limit, coveredAfter: covered.after)
        case .before(let id, let limit):
            return older(than: firstIndex(after: id - 1), limit: limit, coveredAfter: covered.after)
        }
    }

    /// The newest `limit` entries below index `end`.
    private func older(
        than end: Int,
        limit: Int,
        coveredAfter: Int64
    ) -> (frames: [ByteBuffer], truncated: Bool)? {
        if end > limit { return (frames(from: end - limit, count: limit), true) }
        // Whether anything older exists is known only if the range starts at the room's start.
        guard coveredAfter == 0 else { return nil }
        return (frames(from: 0, count: end), false)
    }

    /// The index of the first entry with an id above `id` (binary search: ids ascend).
    private func firstIndex(after id: Int64) -> Int {
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[entries.index(entries.startIndex, offsetBy: middle)].id <= id {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }

    private func frames(from start: Int, count: Int) -> [ByteBuffer] {
        guard count > 0 else { return [] }
        let first = entries.index(entries.startIndex, offsetBy: start)
        let last = entries.index(first, offsetBy: count)
        return entries[first..<last].map(\.frame)
    }

    private mutating func append(_ entry: Entry) {
        entries.append(entry)
        bytes += Self.cost(of: entry)
    }

    private mutating func replace(with added: some Collection<Entry>, after: Int64, through: Int64) {
        removeAll()
        for entry in added { append(entry) }
        covered = (after, through)
    }

    private static func cost(of entry: Entry) -> Int {
        entry.frame.readableBytes + overheadPerEntry
    }
}
