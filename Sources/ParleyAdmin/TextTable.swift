/// A table for the terminal: columns aligned by display width (CJK and emoji included), fitted
/// into the terminal's width by shrinking the one flexible column, colour only when asked.
public struct TextTable: Sendable {
    /// One column's heading and layout.
    public struct Column: Sendable {
        public var title: String
        /// Right-aligned (numbers).
        public var alignRight: Bool
        /// Gives up width when the table is too wide (at most one column should).
        public var flexible: Bool
        /// ANSI SGR code for the cells (`2` dim, `36` cyan, …), used only with colour on.
        public var style: String?

        public init(_ title: String, alignRight: Bool = false, flexible: Bool = false, style: String? = nil) {
            self.title = title
            self.alignRight = alignRight
            self.flexible = flexible
            self.style = style
        }
    }

    public var columns: [Column]
    public var rows: [[String]] = []
    /// Cell styles that vary per row (a nick's own colour), by column index; override `style`.
    public var rowStyles: [[String?]] = []

    public init(columns: [Column]) {
        self.columns = columns
    }

    public mutating func append(_ row: [String], styles: [String?] = []) {
        rows.append(row)
        rowStyles.append(styles)
    }

    /// Column widths for the rows so far, fitted into `maxWidth` columns when given.
    public func widths(maxWidth: Int?) -> [Int] {
        var widths = columns.map { DisplayWidth.of($0.title) }
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], DisplayWidth.of(Self.singleLine(cell)))
            }
        }
        guard let maxWidth, let flexible = columns.firstIndex(where: \.flexible) else { return widths }
        let others = widths.enumerated().filter { $0.offset != flexible }.reduce(0) { $0 + $1.element }
        let spacing = 2 * (columns.count - 1)
        widths[flexible] = max(min(widths[flexible], maxWidth - others - spacing), 8)
        return widths
    }

    /// The header and rows as lines, each ending in a newline.
    public func render(maxWidth: Int?, colour: Bool, header: Bool = true) -> String {
        let widths = widths(maxWidth: maxWidth)
        var output = ""
        if header {
            let titles = columns.map(\.title)
            output += line(titles, styles: Array(repeating: "1", count: titles.count), widths: widths, colour: colour)
        }
        for (index, row) in rows.enumerated() {
            output += line(row, styles: rowStyles[index], widths: widths, colour: colour)
        }
        return output
    }

    /// Renders `row` with fixed `widths` (for rows that arrive later, as with `--follow`).
    public func line(_ row: [String], styles: [String?], widths: [Int], colour: Bool) -> String {
        var cells: [String] = []
        for (index, column) in columns.enumerated() {
            let raw = index < row.count ? Self.singleLine(row[index]) : ""
            let isLast = index == columns.count - 1
            let fitted = DisplayWidth.truncate(raw, to: widths[index])
            let padded =
                column.alignRight
                ? String(repeating: " ", count: max(0, widths[index] - DisplayWidth.of(fitted))) + fitted
                : (isLast ? fitted : DisplayWidth.pad(fitted, to: widths[index]))
            let style = (index < styles.count ? styles[index] : nil) ?? column.style
            if colour, let style, !fitted.isEmpty {
                cells.append("\u{1B}[\(style)m\(padded)\u{1B}[0m")
            } else {
                cells.append(padded)
            }
        }
        return cells.joined(separator: "  ") + "\n"
    }

    /// Newlines and tabs as visible marks, so one message stays on one line of the table.
    public static func singleLine(_ text: String) -> String {
        guard text.contains(where: { $0 == "\n" || $0 == "\t" || $0 == "\r\n" }) else { return text }
        return text.replacingOccurrences(of: "\r\n", with: "↵ ").replacingOccurrences(of: "\n", with: "↵ ")
            .replacingOccurrences(of: "\t", with: " ")
    }
}
