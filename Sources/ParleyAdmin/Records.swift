/// The machine-readable output formats, shared by every command that lists things.
public enum OutputFormat: String, CaseIterable, Sendable {
    /// Aligned columns for people (the default).
    case table
    /// One JSON array.
    case json
    /// One JSON object per line (JSON Lines), ready for `jq` or `parley import`.
    case jsonl
    /// RFC 4180 CSV with a header line.
    case csv
}

/// One value of a record, as it is written to JSON or CSV.
public enum FieldValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case null
}

/// A row of named values, written the same way by every command (field order is kept).
public struct Record: Sendable, Equatable {
    public var fields: [(name: String, value: FieldValue)]

    public init(_ fields: [(name: String, value: FieldValue)]) {
        self.fields = fields
    }

    public static func == (lhs: Record, rhs: Record) -> Bool {
        lhs.fields.map(\.name) == rhs.fields.map(\.name) && lhs.fields.map(\.value) == rhs.fields.map(\.value)
    }

    /// `{"name":value,…}` on one line.
    public var json: String {
        "{" + fields.map { JSONText.string($0.name) + ":" + JSONText.value($0.value) }.joined(separator: ",") + "}"
    }

    /// The header line of a CSV file of such records.
    public var csvHeader: String { CSV.line(fields.map(\.name)) }

    /// The record as a CSV line (null is an empty field). Text that a spreadsheet would run as
    /// a formula is neutralised (see ``CSV/neutralized(_:)``).
    public var csv: String {
        CSV.line(
            fields.map {
                switch $0.value {
                case .string(let text): CSV.neutralized(text)
                case .integer(let number): String(number)
                case .null: ""
                }
            }
        )
    }
}

/// JSON text for strings and values, escaped as RFC 8259 requires (and no more: non-ASCII
/// characters stay as they are, in UTF-8).
public enum JSONText {
    public static func value(_ value: FieldValue) -> String {
        switch value {
        case .string(let text): string(text)
        case .integer(let number): String(number)
        case .null: "null"
        }
    }

    public static func string(_ text: String) -> String {
        var output = "\""
        output.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20 || scalar == "\u{2028}" || scalar == "\u{2029}":
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output + "\""
    }
}

/// CSV as RFC 4180 writes it: a field with a comma, quote or line break is quoted, quotes doubled.
public enum CSV {
    /// `text`, with a `'` in front when it begins with a character that makes a spreadsheet
    /// read the cell as a formula (`=`, `+`, `-`, `@`, tab, carriage return): opening an export of
    /// `=HYPERLINK("http://x","click")` must not run it (OWASP's advice on CSV injection). Only
    /// CSV does this; JSON keeps every text exact.
    public static func neutralized(_ text: String) -> String {
        guard let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return text }
        return "'" + text
    }

    public static func line(_ fields: [String]) -> String {
        fields.map(field).joined(separator: ",") + "\r\n"
    }

    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else {
            return text
        }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// Writes a stream of records in an ``OutputFormat``: `begin`, any number of `rows`, `end`.
/// The table format fixes its column widths on the first batch, so rows that come later (as with
/// `--follow`) line up with it.
public struct RecordWriter {
    public let format: OutputFormat
    public let terminal: Terminal
    private var table: TextTable
    private let cells: (Record) -> (cells: [String], styles: [String?])
    private var widths: [Int] = []
    private var written = 0

    /// - Parameters:
    ///   - columns: the table's columns.
    ///   - cells: a record's table cells (and per-cell styles), matching `columns`.
    public init(
        format: OutputFormat,
        terminal: Terminal,
        columns: [TextTable.Column],
        cells: @escaping (Record) -> (cells: [String], styles: [String?])
    ) {
        self.format = format
        self.terminal = terminal
        self.table = TextTable(columns: columns)
        self.cells = cells
    }

    /// The opening: the table header (widths from `firstBatch`), `[` for JSON, the CSV header.
    public mutating func begin(_ firstBatch: [Record], csvHeader: String) -> String {
        switch format {
        case .table:
            var sizing = table
            for record in firstBatch {
                let (row, styles) = cells(record)
                sizing.append(row, styles: styles)
            }
            widths = sizing.widths(maxWidth: terminal.width)
            let titles = table.columns.map(\.title)
            return table.line(titles, styles: titles.map { _ in "1" }, widths: widths, colour: terminal.colour)
        case .json: return "["
        case .jsonl: return ""
        case .csv: return csvHeader
        }
    }

    public mutating func rows(_ records: [Record]) -> String {
        var output = ""
        for record in records {
            switch format {
            case .table:
                let (row, styles) = cells(record)
                output += table.line(row, styles: styles, widths: widths, colour: terminal.colour)
            case .json: output += (written == 0 ? "\n" : ",\n") + record.json
            case .jsonl: output += record.json + "\n"
            case .csv: output += record.csv
            }
            written += 1
        }
        return output
    }

    public func end() -> String {
        format == .json ? (written == 0 ? "]\n" : "\n]\n") : ""
    }
}
