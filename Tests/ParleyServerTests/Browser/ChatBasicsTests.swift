import Foundation
import ParleyCore
import ParleyStore
import Testing

/// What people expect of a chat page within minutes (issue 12), in real headless Chromium.
@Suite(.serialized) struct ChatBasicsTests {
    /// A database with messages written at given local times, as if over several days.
    static func seededDirectory(
        _ messages: [(room: String, nick: String, text: String, date: Date)]
    ) async throws
        -> URL
    {
        let directory = try TestServer.makeDirectory()
        let store = try SQLiteMessageStore(path: directory.appendingPathComponent("parley.sqlite").path)
        _ = try await store.append(
            messages.map {
                MessageDraft(
                    room: RoomName($0.room)!,
                    nick: $0.nick,
                    text: $0.text,
                    createdAt: Int64($0.date.timeIntervalSince1970 * 1000)
                )
            }
        )
        return directory
    }

    /// Today (or `daysAgo` before) at a local time of day.
    static func local(daysAgo: Int, _ hour: Int, _ minute: Int) -> Date {
        let calendar = Calendar.current
        let day = calendar.date(byAdding: .day, value: -daysAgo, to: calendar.startOfDay(for: Date()))!
        return calendar.date(bySettingHour: hour, minute: minute, second: 0, of: day)!
    }

    @Test func messagesAreGroupedByNickAndSeparatedByDayWithAlignedText() async throws {
        // Early in the morning, so a time could be written "07:49 AM". Today's messages stay
        // today even just after midnight (a few minutes in the future do no harm).
        let today = max(
            Date().addingTimeInterval(-1000),
            Calendar.current.startOfDay(for: Date()).addingTimeInterval(1)
        )
        let directory = try await Self.seededDirectory([
            ("general", "bob", "two days ago", Self.local(daysAgo: 2, 7, 49)),
            ("general", "bob", "a minute later", Self.local(daysAgo: 2, 7, 50)),
            ("general", "bob", "yesterday", Self.local(daysAgo: 1, 9, 5)),
            ("general", "bob", "today", today),
            ("general", "bob", "today again", today.addingTimeInterval(10)),
            ("general", "carol", "carol speaks", today.addingTimeInterval(20)),
            ("general", "bob", "ten minutes later", today.addingTimeInterval(620)),
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await TestServer(directory: directory)
        defer { Task { try? await server.stop() } }
        try await Browser.with { browser async throws in
            let page = try await browser.newPage()
            try await page.open("http://127.0.0.1:\(server.port)/#general")
            try await page.signIn(nick: "alice", room: "general")
            try await page.waitUntil("document.querySelectorAll('.message[data-id]').length === 7", "the history")
            let rows =
                try await page.evaluate(
                    """
                    [...document.querySelectorAll('.message[data-id]')].map(li => ({
                      continued: li.classList.contains('continued'), day: li.dataset.day ?? '',
                      time: li.querySelector('time').textContent,
                      textLeft: Math.round(li.querySelector('.text').getBoundingClientRect().left),
                    }))
                    """
                ).array ?? []
            #expect(rows.map { $0["continued"]?.bool } == [false, true, false, false, true, false, false])
            let days = rows.map { $0["day"]?.string ?? "" }
            #expect(days[0] != "" && days[0] != "Yesterday" && days[0] != "Today")
            #expect(days[1...] == ["", "Yesterday", "Today", "", "", ""])
            // "7:49 AM" (or "07:49" in a 24-hour locale), never "07:49 AM".
            let firstTime = rows[0]["time"]?.string ?? ""
            #expect(firstTime.contains("7:49"))
            #expect(!(firstTime.contains("07:49") && firstTime.contains("M")))
            // Every text starts at the same x, whether its row shows a name or not.
            #expect(Set(rows.compactMap { $0["textLeft"]?.int }).count == 1)
            #expect(await page.problems() == [])
        }
    }

    @Test func linksAndMentionsAreMadeFromPlainTextOnly() async throws {
        try await TestServer.with { server async throws in
            let mallory = try await server.member("general", nick: "mallory")
            try await mallory.say(
                in: "general",
                [
                    "see https://example.org/path?q=1. and javascript:alert(1) and http://x.test\" onmouseover=alert(2)",
                    "<b>hi</b> b, @B and bob-b and abc",
                ]
            )
            try await Browser.with { browser async throws in
                let page = try await browser.newPage()
                try await page.open("http://127.0.0.1:\(server.port)/#general")
                try await page.signIn(nick: "b", room: "general")
                try await page.waitUntil("document.querySelectorAll('.message[data-id]').length === 2", "the history")
                let links = try await page.evaluate(
                    "[...document.querySelectorAll('.messages a')].map(a => [a.href, a.target, a.rel].join(' '))"
                ).strings
                #expect(
                    links == [
                        "https://example.org/path?q=1 _blank noopener noreferrer",
                        "http://x.test/ _blank noopener noreferrer",
                    ]
                )
                #expect(
                    try await page.messages(in: "general") == [
                        "1 mallory: see https://example.org/path?q=1. and javascript:alert(1) and http://x.test\" onmouseover=alert(2)",
                        "2 mallory: <b>hi</b> b, @B and bob-b and abc",
                    ]
                )
                // Only links and mention marks were made; no attribute came from the text.
                #expect(
                    try await page.evaluate(
                        "[...document.querySelectorAll('.messages .text *')].every(e => e.localName === 'a' || e.localName === 'mark')"
                    ).bool == true
                )
                #expect(
                    try await page.evaluate("document.querySelectorAll('[onmouseover], .messages b').length").int == 0
                )
                // "b" is mentioned as a whole word, also in "<b>", "@B"; not inside "bob-b" or "abc".
                #expect(try await page.texts(".message[data-id='2'] mark.mention") == ["b", "b", "b", "@B"])
                try await page.say("I am b")  // one's own nick is no mention
                try await page.waitUntil("document.querySelectorAll('.message[data-id]').length === 3", "her message")
                #expect(
                    try await page.evaluate(
                        "document.querySelector('.message[data-id=\"3\"]').classList.contains('mentions-me')"
                    ).bool == false
                )
                #expect(
                    try await page.evaluate(
                        "document.querySelector('.message[data-id=\"2\"]').classList.contains('mentions-me')"
                    ).bool == true
                )
                #expect(
                    try await page.evaluate(
                        "document.querySelector('.message[data-id=\"1\"]').classList.contains('mentions-me')"
                    ).bool == false
                )

                // Mentions in any script, case-insensitively, with word boundaries.
                let checks = try await page.evaluate(
                    """
                    import('/js/text.js').then(({ mentionPattern, mentions }) => [
                      mentions('Привет, ÜNAL!', mentionPattern('ünal')),
                      mentions('ünalx was here', mentionPattern('ünal')),
                      mentions('γεια σου Σοφία', mentionPattern('σοφία')),
                      mentions('a.b+c', mentionPattern('b')),
                    ])
                    """
                )
                #expect(checks.array?.map(\.bool) == [true, false, true, true])
                try await Task.sleep(for: .milliseconds(200))
                #expect(await page.problems() == [])
            }
        }
    }

    @Test func aMentionIsCountedApartAndNotifiesWhenThePageIsHidden() async throws {
        try await TestServer.with { server async throws in
            let bob = try await server.member("general", nick: "bob")
            try await bob.join("random")
            try await Browser.with { browser async throws in
                let page = try await browser.newPage()
                // Stands in for the browser's Notification API (a headless browser shows nothing
                // to look at): records permission requests and notifications.
                try await page.call(
                    "Page.addScriptToEvaluateOnNewDocument",
                    [
                        "source": """
                        window.asked = 0; window.shown = [];
                        window.Notification = class {
                          static permission = 'default';
                          static requestPermission() { window.asked += 1; Notification.permission = 'granted'; return Promise.resolve('granted'); }
                          constructor(title, options) { window.shown.push(title + ' | ' + options.body); }
                          close() {}
                        };
                        """
                    ]
                )
                try await page.open("http://127.0.0.1:\(server.port)/#general")
                #expect(try await page.evaluate("window.asked").int == 0)  // not before the user did anything
                try await page.signIn(nick: "Alice", room: "general")
                #expect(try await page.evaluate("window.asked").int == 1)
                try await page.type("random", into: "#join-room")
                try await page.pressEnter()
                try await page.waitUntil("document.querySelectorAll('#members li').length === 2", "bob in random")
                try await page.evaluate("document.querySelector('.room-tab[data-room=general]').click()")

                try await bob.say(in: "random", ["hey alice!", "alicex is not you", "just chatting"])
                try await page.waitUntil(
                    "document.querySelector('.room-tab[data-room=random] .unread')?.textContent === '3'",
                    "three unread"
                )
                #expect(try await page.text(".room-tab[data-room=random] .mention-count") == "@1")
                #expect(try await page.evaluate("document.title").string == "(@3) Parley")
                #expect(try await page.evaluate("window.shown.length").int == 0)  // the page is in view

                try await page.evaluate(
                    "Object.defineProperty(document, 'hidden', { configurable: true, get: () => true })"
                )
                try await bob.say(in: "general", ["ALICE, are you there?", "no mention here"])
                try await page.waitUntil("window.shown.length === 1", "a notification")
                try await Task.sleep(for: .milliseconds(200))
                #expect(try await page.evaluate("window.shown").strings == ["bob in #general | ALICE, are you there?"])
                #expect(try await page.text(".room-tab[data-room=general] .mention-count") == "@1")
                #expect(await page.problems() == [])
            }
        }
    }

    @Test func comingBackShowsALineAboveWhatIsNew() async throws {
        try await TestServer.with { server async throws in
            let bob = try await server.member("general", nick: "bob")
            try await bob.say(in: "general", ["one", "two", "three"])
            try await Browser.with { browser async throws in
                let first = try await browser.newPage()
                try await first.open("http://127.0.0.1:\(server.port)/#general")
                try await first.signIn(nick: "alice", room: "general")
                try await first.waitUntil("document.querySelectorAll('.message[data-id]').length === 3", "history")
                #expect(
                    try await first.evaluate("document.querySelector('.divider')?.isConnected ?? false").bool == false
                )
                try await browser.closeTab(first)
                try await bob.say(in: "general", ["four", "five"])

                let again = try await browser.newPage(besides: first)
                try await again.open("http://127.0.0.1:\(server.port)/")
                try await again.waitUntil("document.querySelectorAll('.message[data-id]').length === 5", "history")
                #expect(try await again.text(".divider") == "New since you left")
                #expect(
                    try await again.evaluate("document.querySelector('.divider').nextElementSibling.dataset.id").string
                        == "4"
                )
                #expect(await again.problems() == [])
            }
        }
    }

    @Test func theRoomDirectoryShowsWhereTheConversationIs() async throws {
        try await TestServer.with { server async throws in
            let one = try await server.member("busy", nick: "one")
            _ = try await server.member("busy", nick: "two")
            try await one.say(in: "busy", ["lively"])
            try await one.join("quiet")
            try await one.say(in: "quiet", ["once"])
            try one.send(["type": "leave", "room": "quiet", "ref": "bye"])
            _ = try await one.next(ofType: "left")
            try await Browser.with { browser async throws in
                let page = try await browser.newPage()
                try await page.open("http://127.0.0.1:\(server.port)/")
                try await page.signIn(nick: "newcomer", room: "general")
                try await page.evaluate("document.getElementById('join-room').focus()")
                try await page.waitUntil(
                    "document.querySelector('#directory:not([hidden]) .directory-room')",
                    "the list"
                )
                #expect(
                    try await page.texts("#directory .directory-room .room-name") == ["#busy", "#general", "#quiet"]
                )
                #expect(
                    try await page.text("#directory .directory-room[data-room=busy] .directory-details")
                        == "2 here · active just now"
                )
                #expect(
                    try await page.text("#directory .directory-room[data-room=general] .directory-details")
                        == "1 here · joined"
                )
                try await page.click("#directory .directory-room[data-room=quiet]")
                try await page.waitUntil("location.hash === '#quiet'", "the quiet room")
                try await page.waitUntil(
                    "document.querySelectorAll('.room-view[data-room=quiet] .message[data-id]').length === 1",
                    "its history"
                )

                // With no room left, the directory is the empty state.
                for _ in 0..<2 { try await page.click(".room-item .leave") }
                try await page.waitUntil("!document.getElementById('no-room').hidden", "the empty state")
                try await page.waitUntil("document.querySelector('#directory-empty .directory-room')", "the directory")
                #expect(try await page.texts("#directory-empty .directory-room .room-name").contains("#busy"))
                #expect(await page.problems() == [])
            }
        }
    }

    @Test func searchFindsAnOldMessageAndShowsItInContext() async throws {
        try await TestServer.with { server async throws in
            let writer = try await server.member("archive", nick: "writer")
            try await writer.say(
                in: "archive",
                (1...300).map { $0 == 10 || $0 == 250 ? "the needle number \($0)" : "hay \($0)" }
            )
            try await Browser.with { browser async throws in
                let page = try await browser.newPage(width: 1000, height: 600)
                try await page.open("http://127.0.0.1:\(server.port)/#archive")
                try await page.signIn(nick: "finder", room: "archive")
                try await page.waitUntil("document.querySelectorAll('.message[data-id]').length === 50", "history")
                try await page.type("needle", into: "#search")
                try await page.pressEnter()
                try await page.waitUntil("document.querySelectorAll('.search-results .result').length === 2", "results")
                #expect(
                    try await page.texts(".search-results .result .text") == [
                        "the needle number 250", "the needle number 10",
                    ]
                )
                try await page.click(".search-results .result[data-id='10']")
                try await page.waitUntil(
                    "document.querySelector('.message.found[data-id=\"10\"]')",
                    "the message in context"
                )
                #expect(try await page.evaluate("document.getElementById('search-panel').hidden").bool == true)
                // Loaded without a gap: every id from 10 (or before) to 300, once.
                let ids =
                    try await page.evaluate(
                        "[...document.querySelectorAll('.room-view[data-room=archive] .message[data-id]')].map(li => Number(li.dataset.id))"
                    ).array?.compactMap(\.int) ?? []
                #expect(ids.first ?? 99 <= 10)
                #expect(ids == Array((ids.first ?? 0)...300))
                let visible = try await page.evaluate(
                    """
                    (() => { const m = document.querySelector('.message[data-id="10"]').getBoundingClientRect();
                      const s = document.querySelector('.room-view:not([hidden]) .scroller').getBoundingClientRect();
                      return m.top >= s.top && m.bottom <= s.bottom; })()
                    """
                )
                #expect(visible.bool == true)
                #expect(await page.problems() == [])
            }
        }
    }

    @Test func offlineIsVisibleAndWhatIsWrittenWaitsUnderTheUsersNick() async throws {
        let server = try await TestServer()
        try await Browser.with { browser async throws in
            let page = try await browser.newPage()
            try await page.call("Network.enable")
            try await page.open("http://127.0.0.1:\(server.port)/")
            // Before any attempt, no red or grey "offline" on the login screen.
            #expect(
                try await page.evaluate("getComputedStyle(document.querySelector('.connection')).visibility").string
                    == "hidden"
            )
            try await page.signIn(nick: "alice", room: "general")
            try await page.waitUntil("document.getElementById('status').dataset.state === 'online'", "online")
            #expect(
                try await page.evaluate("getComputedStyle(document.getElementById('composer')).opacity").string == "1"
            )

            try await server.stop()
            try await page.waitUntil("document.getElementById('status').dataset.state === 'waiting'", "offline")
            for part in ["composer", "members-details"] {
                let opacity = try await page.evaluate(
                    "Number(getComputedStyle(document.getElementById('\(part)').closest('.composer, .members-panel')).opacity)"
                )
                #expect(opacity.double ?? 1 < 1, "\(part)")
            }
            try await page.say("written offline")
            #expect(try await page.texts(".outgoing .message .nick") == ["alice"])

            // No request of the page failed (the icon included).
            let failed = await browser.devTools.events("Network.responseReceived", session: page.session)
                .filter { ($0["params"]?["response"]?["status"]?.int ?? 200) >= 400 }
                .map { $0["params"]?["response"]?["url"]?.string ?? "" }
            #expect(failed == [])
            #expect(await page.problems() == [])
        }
    }
}
