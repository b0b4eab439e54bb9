import Foundation

/// A validated nickname: 1-32 letters, digits, `_` or `-`, in any script.
///
/// Nicks are unique server-wide without regard to case, so two nicks are the same nick when their
/// ``key``s are equal; the nick itself keeps the spelling its owner chose.
public struct Nick: Hashable, Sendable, CustomStringConvertible {
    /// The most Unicode scalars a nick may have.
    public static let maxLength = 32

    /// The nick as its owner spelled it (NFC-normalized).
    public let value: String
    /// The case-folded form that decides uniqueness.
    public let key: String

    /// Validates `raw`, or returns `nil` when it is not a nick.
    public init?(_ raw: String) {
        let isASCII = NameRules.isASCII(raw)
        let normalized = isASCII ? raw : raw.precomposedStringWithCanonicalMapping
        let isValid =
            isASCII
            ? NameRules.isValidASCIIName(raw, maxLength: Self.maxLength)
            : NameRules.isValidName(normalized, maxLength: Self.maxLength)
        guard isValid else { return nil }
        self.value = normalized
        self.key = normalized.lowercased()
    }

    public var description: String { value }

    public static func == (lhs: Nick, rhs: Nick) -> Bool { lhs.key == rhs.key }
    public func hash(into hasher: inout Hasher) { hasher.combine(key) }
}

/// A validated room name: 1-64 letters, digits, `_` or `-`, case-folded to lower case.
///
/// `General` and `general` name the same room; every reply uses the folded name.
public struct RoomName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The most Unicode scalars a room name may have.
    public static let maxLength = 64

    /// The folded name.
    public let value: String

    /// Validates and folds `raw`, or returns `nil` when it is not a room name.
    public init?(_ raw: String) {
        // ASCII (nearly every room name) is already normalized and folds within ASCII: the
        // Unicode normalization, a large share of decoding a command, is skipped for it.
        if NameRules.isASCII(raw) {
            guard NameRules.isValidASCIIName(raw, maxLength: Self.maxLength) else { return nil }
            self.value =
                raw.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") })
                ? raw.lowercased() : raw
            return
        }
        let folded = raw.precomposedStringWithCanonicalMapping.lowercased().precomposedStringWithCanonicalMapping
        guard NameRules.isValidName(folded, maxLength: Self.maxLength) else { return nil }
        self.value = folded
    }

    /// Wraps a name that was validated when it was stored.
    public init(trusted value: String) {
        self.value = value
    }

    public var description: String { value }

    public static func < (lhs: RoomName, rhs: RoomName) -> Bool { lhs.value < rhs.value }
}

/// The text of a chat message: 1-4000 Unicode scalars, not blank, no control characters but
/// newline and tab.
public struct MessageText: Sendable, Equatable {
    /// The most Unicode scalars a message may have.
    public static let maxLength = 4000

    /// Why a text was refused.
    public enum Problem: Error, Equatable, Sendable {
        case empty
        case blank
        case controlCharacter
        case tooLong
    }

    public let value: String

    /// Validates `raw`; the text is kept exactly as sent.
    public static func validate(_ raw: String) -> Result<MessageText, Problem> {
        if let ascii = validateASCII(raw) { return ascii }
        var count = 0
        var sawVisible = false
        for scalar in raw.unicodeScalars {
            count += 1
            if count > maxLength { return .failure(.tooLong) }
            switch scalar {
            case "\n", "\t":
                continue
            default:
                if scalar.properties.generalCategory == .control { return .failure(.controlCharacter) }
                if !scalar.properties.isWhitespace && !NameRules.isInvisible(scalar) { sawVisible = true }
            }
        }
        if count == 0 { return .failure(.empty) }
        if !sawVisible { return .failure(.blank) }
        return .success(MessageText(value: raw))
    }

    private init(value: String) {
        self.value = value
    }
}

enum NameRules {
    /// Letters (with the combining marks their scripts need), decimal digits, `_` and `-`.
    ///
    /// The whole string is checked scalar by scalar, so no trailing newline or invisible
    /// format character slips through the way it can past an anchored regular expression.
    static func isValidName(_ name: String, maxLength: Int) -> Bool {
        var count = 0
        for scalar in name.unicodeScalars {
            count += 1
            if count > maxLength { return false }
            if scalar == "_" || scalar == "-" { continue }
            switch scalar.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
                .decimalNumber:
                continue
            case .nonspacingMark, .spacingMark:
                // A mark must follow something to sit on: scripts such as Devanagari need them,
                // but a name made of marks alone would render as nothing.
                if count == 1 { return false }
            default:
                return false
            }
        }
        return count > 0
    }

    /// ``isValidName(_:maxLength:)`` for an all-ASCII name, by byte value instead of a Unicode
    /// property lookup per character.
    static func isValidASCIIName(_ name: String, maxLength: Int) -> Bool {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= maxLength else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
    }

    /// Format characters such as zero-width spaces draw nothing on their own.
    static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .format
    }
}

extension MessageText {
    /// The same rules for a text that is all ASCII, by byte value instead of Unicode property
    /// lookups (which were most of the cost of validating a message); `nil` for any other text.
    static func validateASCII(_ raw: String) -> Result<MessageText, Problem>? {
        var sawVisible = false
        var count = 0
        for byte in raw.utf8 {
            guard byte < 0x80 else { return nil }
            count += 1
            if count > maxLength { return .failure(.tooLong) }
            switch byte {
            case 0x09, 0x0A, 0x20: continue  // tab, newline, space
            case 0x00..<0x20, 0x7F: return .failure(.controlCharacter)
            default: sawVisible = true
            }
        }
        if count == 0 { return .failure(.empty) }
        if !sawVisible { return .failure(.blank) }
        return .success(MessageText(value: raw))
    }
}

extension NameRules {
    static func isASCII(_ string: String) -> Bool {
        string.utf8.allSatisfy { $0 < 0x80 }
    }
}
