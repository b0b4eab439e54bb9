#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What standard output is connected to: its width, and whether colour is wanted there.
public struct Terminal: Sendable {
    /// Columns available; nil when output goes to a file or pipe (no fitting then).
    public var width: Int?
    /// ANSI colour: only on a terminal, and never when `NO_COLOR` is set (https://no-color.org).
    public var colour: Bool

    public init(width: Int?, colour: Bool) {
        self.width = width
        self.colour = colour
    }

    /// Standard output as it is now; `environment` supplies `COLUMNS` and `NO_COLOR`.
    public static func standardOutput(environment: [String: String]) -> Terminal {
        let isTerminal = isatty(STDOUT_FILENO) == 1
        var width: Int?
        if isTerminal {
            var size = winsize()
            if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { width = Int(size.ws_col) }
            if width == nil, let columns = environment["COLUMNS"].flatMap(Int.init), columns > 0 { width = columns }
        }
        let noColour = !(environment["NO_COLOR"] ?? "").isEmpty
        return Terminal(width: width, colour: isTerminal && !noColour)
    }

    /// A stable colour (ANSI SGR) per nick, from a palette readable on dark and light backgrounds.
    public static func nickStyle(_ nick: String) -> String {
        let palette = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96]
        var hash: UInt32 = 0
        for scalar in nick.lowercased().unicodeScalars { hash = hash &* 31 &+ scalar.value }
        return String(palette[Int(hash % UInt32(palette.count))])
    }
}
