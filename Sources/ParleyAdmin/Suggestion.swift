/// "Did you mean …?" for a name that does not exist.
public enum Suggestion {
    /// The candidates closest to `name` (edit distance at most a third of its length, at least 2),
    /// best first; at most `limit`.
    public static func closest(to name: String, among candidates: [String], limit: Int = 3) -> [String] {
        let lowered = name.lowercased()
        let target = Array(lowered)
        let threshold = max(2, target.count / 3)
        var scored: [(name: String, distance: Int)] = []
        for candidate in candidates {
            let distance = distance(target, Array(candidate.lowercased()))
            if distance <= threshold || candidate.lowercased().hasPrefix(lowered) {
                scored.append((candidate, distance))
            }
        }
        scored.sort { $0.distance != $1.distance ? $0.distance < $1.distance : $0.name < $1.name }
        return scored.prefix(limit).map(\.name)
    }

    /// Levenshtein distance.
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
