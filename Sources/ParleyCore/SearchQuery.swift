/// A full-text search as an operator types it, turned into an SQLite FTS5 query.
///
/// Words are matched whole and case-insensitively, ignoring diacritics; every word must occur
/// (AND). `"two words"` is a phrase, `hel*` a prefix, and `OR`, `NOT` and `AND` (upper case) are
/// operators. Everything else is taken literally: `don't`, `foo-bar` or `C++` are never FTS5
/// syntax errors, because each word is quoted before it reaches SQLite.
public struct SearchQuery: Sendable, Equatable {
    /// What the operator typed.
    public let text: String
    /// The FTS5 query.
    public let fts5: String
    /// The query parsed: words and phrases (possibly prefixes) and the operators between them, in
    /// order, for stores that speak another query language than FTS5.
    public let terms: [Term]

    /// One piece of a query.
    public enum Term: Sendable, Equatable {
        /// A word, or several as a phrase; `prefix` when its last word may continue (`hel*`).
        case words(String, prefix: Bool)
        case and, or, not
    }

    /// Nil when `text` holds no word to search for.
    public init?(_ text: String) {
        var terms: [String] = []
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character.isWhitespace {
                index = text.index(after: index)
                continue
            }
            var word: String
            if character == "\"" {
                // A phrase runs to the next quote (or the end).
                let start = text.index(after: index)
                let end = text[start...].firstIndex(of: "\"") ?? text.endIndex
                word = String(text[start..<end])
                index = end < text.endIndex ? text.index(after: end) : end
            } else {
                let end = text[index...].firstIndex(where: { $0.isWhitespace || $0 == "\"" }) ?? text.endIndex
                word = String(text[index..<end])
                index = end
                if ["OR", "AND", "NOT"].contains(word) {
                    // Of two operators in a row, the second wins.
                    if let last = terms.last, ["OR", "AND", "NOT"].contains(last) { terms.removeLast() }
                    terms.append(word)
                    continue
                }
            }
            var prefix = false
            if word.hasSuffix("*") {
                word.removeLast()
                prefix = true
            } else if index < text.endIndex, text[index] == "*" {
                prefix = true  // "a phrase"*
                index = text.index(after: index)
            }
            guard word.contains(where: { $0.isLetter || $0.isNumber }) else { continue }
            terms.append("\"" + word.replacingOccurrences(of: "\"", with: "\"\"") + "\"" + (prefix ? "*" : ""))
        }
        // Operators need words on both sides (NOT also on its left); drop the ones left dangling.
        while let first = terms.first, ["OR", "AND", "NOT"].contains(first) { terms.removeFirst() }
        while let last = terms.last, ["OR", "AND", "NOT"].contains(last) { terms.removeLast() }
        guard !terms.isEmpty else { return nil }
        self.text = text
        self.fts5 = terms.joined(separator: " ")
        self.terms = terms.map { term in
            switch term {
            case "AND": return .and
            case "OR": return .or
            case "NOT": return .not
            default:
                let prefix = term.hasSuffix("*")
                let quoted = prefix ? term.dropFirst().dropLast(2) : term.dropFirst().dropLast()
                return .words(quoted.replacingOccurrences(of: "\"\"", with: "\""), prefix: prefix)
            }
        }
    }
}
