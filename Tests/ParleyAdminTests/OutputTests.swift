import ParleyAdmin
import ParleyCore
import ParleyStore
import Testing

/// Widths, tables, escaping and search syntax: the pieces behind the admin commands' output.
@Suite struct OutputTests {
    @Test func displayWidthCountsTerminalColumns() {
        #expect(DisplayWidth.of("abc") == 3)
        #expect(DisplayWidth.of("小千") == 4)
        #expect(DisplayWidth.of("ｆｕｌｌ") == 8)  // fullwidth Latin
        #expect(DisplayWidth.of("한국어") == 6)
        #expect(DisplayWidth.of("Zoë") == 3)
        #expect(DisplayWidth.of("Zoe\u{308}") == 3)  // combining diaeresis takes no column
        #expect(DisplayWidth.of("नमस्ते") == 4)
        #expect(DisplayWidth.of("👋🏽") == 2)  // emoji with a skin tone: one cluster, two columns
        #expect(DisplayWidth.of("👨‍👩‍👧") == 2)
        #expect(DisplayWidth.of("❤️") == 2)  // text-default heart asked to be emoji
        #expect(DisplayWidth.of("a\u{200B}b") == 2)
    }

    @Test func truncationNeverSplitsAWideCharacterOrOverflows() {
        #expect(DisplayWidth.truncate("hello world", to: 8) == "hello w…")
        #expect(DisplayWidth.truncate("小千小千小千", to: 6) == "小千…")
        #expect(DisplayWidth.of(DisplayWidth.truncate("小千小千小千", to: 6)) <= 6)
        #expect(DisplayWidth.truncate("short", to: 10) == "short")
    }

    @Test func aTableFitsItsWidthByShrinkingTheFlexibleColumn() {
        var table = TextTable(columns: [.init("NICK"), .init("TEXT", flexible: true)])
        table.append(["小千", String(repeating: "很长的消息", count: 20)])
        table.append(["bob", "short"])
        let lines = table.render(maxWidth: 40, colour: false).split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.allSatisfy { DisplayWidth.of($0) <= 40 })
        #expect(lines[1].hasPrefix("小千  很长"))
        #expect(lines[2].hasPrefix("bob   short"))
        let unlimited = table.render(maxWidth: nil, colour: false).split(separator: "\n")
        #expect(DisplayWidth.of(unlimited[1]) == 4 + 2 + 200)
    }

    @Test func colourIsOnlyAddedWhenAskedFor() {
        var table = TextTable(columns: [.init("NICK"), .init("TEXT")])
        table.append(["bob", "hi"], styles: ["31", nil])
        #expect(!table.render(maxWidth: nil, colour: false).contains("\u{1B}"))
        #expect(table.render(maxWidth: nil, colour: true).contains("\u{1B}[31mbob"))
    }

    @Test func jsonAndCSVEscapeWhatTheyMust() {
        let record = Record([
            ("text", .string("say \"hi\", \\ then\nnew line\ttab \u{1} 👋")), ("id", .integer(7)), ("none", .null),
        ])
        #expect(record.json == #"{"text":"say \"hi\", \\ then\nnew line\ttab \u0001 👋","id":7,"none":null}"#)
        #expect(record.csv == "\"say \"\"hi\"\", \\ then\nnew line\ttab \u{1} 👋\",7,\r\n")
        #expect(CSV.line(["plain", "a,b", ""]) == "plain,\"a,b\",\r\n")
    }

    @Test func csvNeutralisesFormulasAndJSONKeepsThem() {
        for text in [#"=HYPERLINK("http://x","click")"#, "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            let record = Record([("text", .string(text)), ("id", .integer(-1))])
            #expect(CSV.neutralized(text) == "'" + text)
            #expect(record.csv.hasPrefix("\"'") || record.csv.hasPrefix("'"), "\(record.csv.debugDescription)")
            #expect(record.csv.hasSuffix(",-1\r\n"))  // numbers are numbers
            #expect(record.json.contains(JSONText.string(text)))
        }
        for text in ["plain", "a=b", " =x", "'quoted", "", "小千 = 1"] {
            #expect(CSV.neutralized(text) == text)
        }
    }

    @Test(
        arguments: [
            ("printer", #""printer""#),
            ("print*", #""print"*"#),
            (#""release notes""#, #""release notes""#),
            (#""release no"*"#, #""release no"*"#),
            ("don't panic", #""don't" "panic""#),
            ("foo-bar C++", #""foo-bar" "C++""#),
            ("a OR b NOT c", #""a" OR "b" NOT "c""#),
            ("OR a OR OR b AND", #""a" OR "b""#),
            (#"say "hi"#, #""say" "hi""#),
        ]
    )
    func searchQueriesBecomeSafeFTS5(_ typed: String, _ fts5: String) {
        #expect(SearchQuery(typed)?.fts5 == fts5)
    }

    @Test func aSearchWithoutWordsIsNoSearch() {
        #expect(SearchQuery("") == nil)
        #expect(SearchQuery("  ** \"\" OR ") == nil)
    }

    @Test func suggestionsFindCloseNames() {
        let rooms = ["general", "support", "random", "support-eu"]
        #expect(Suggestion.closest(to: "genral", among: rooms) == ["general"])
        #expect(Suggestion.closest(to: "suport", among: rooms) == ["support"])
        #expect(Suggestion.closest(to: "supp", among: rooms) == ["support", "support-eu"])
        #expect(Suggestion.closest(to: "zzz", among: rooms) == [])
    }
}
