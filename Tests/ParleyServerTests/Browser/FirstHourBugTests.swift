import Foundation
import ParleyChat
import Testing

/// The bugs a new user met in the first hour (issue 12), each as the user met it.
@Suite(.serialized) struct FirstHourBugTests {
    /// On a phone, a room with more than a screenful: the message list scrolls, not the page; the
    /// composer, the newest message, the rooms and the connection state stay on screen.
    @Test func aFullRoomOnAPhoneKeepsTheComposerAndTheNewestMessageOnScreen() async throws {
        try await TestServer.with { server async throws in
            let friend = try await server.member("general", nick: "friend")
            try await friend.say(in: "general", (1...30).map { "message number \($0) with a few words in it" })
            try await Browser.with { browser async throws in
                let phone = try await browser.newPage(width: 390, height: 844)
                try await phone.open("http://127.0.0.1:\(server.port)/#general")
                try await phone.signIn(nick: "phone", room: "general")
                try await phone.waitUntil("document.querySelectorAll('.message[data-id]').length === 30", "the history")
                try await phone.say("my reply")
                try await phone.waitUntil("document.querySelectorAll('.message[data-id]').length === 31", "the reply")
                try await Task.sleep(for: .milliseconds(200))
                let layout = try await phone.evaluate(
                    """
                    (() => {
                      const box = (selector) => {
                        const r = document.querySelector(selector).getBoundingClientRect();
                        return { top: r.top, bottom: r.bottom, height: r.height, left: r.left, right: r.right };
                      };
                      const messages = document.querySelectorAll('.message[data-id]');
                      const newest = messages[messages.length - 1].getBoundingClientRect();
                      const scroller = document.querySelector('.room-view:not([hidden]) .scroller').getBoundingClientRect();
                      return {
                        documentScrolls: document.scrollingElement.scrollHeight > innerHeight + 1,
                        composer: box('#composer'), sidebar: box('.sidebar'), join: box('#join-room'),
                        status: box('#status'),
                        newestVisible: newest.top >= scroller.top - 1 && newest.bottom <= scroller.bottom + 1,
                      };
                    })()
                    """
                )
                #expect(layout["documentScrolls"]?.bool == false)
                #expect(layout["composer"]?["bottom"]?.double ?? 9999 <= 844)
                #expect(layout["composer"]?["top"]?.double ?? -1 >= 0)
                #expect(layout["newestVisible"]?.bool == true)
                #expect(layout["sidebar"]?["height"]?.double ?? 0 >= 32)
                #expect(layout["join"]?["height"]?.double ?? 0 >= 24)
                #expect(layout["join"]?["bottom"]?.double ?? 9999 <= 844)
                #expect(layout["join"]?["right"]?.double ?? 9999 <= 390)  // in reach without scrolling sideways
                #expect(layout["status"]?["top"]?.double ?? -1 >= 0)
                #expect(try await phone.evaluate("document.documentElement.scrollWidth").int ?? 9999 <= 390)
                #expect(await phone.problems() == [])
            }
        }
    }

    /// The same browser, a new tab (or the tab closed and opened again) within the grace period:
    /// back in at once, as the same person; the older tab steps aside and offers "use here".
    @Test func aNewTabOfTheSameBrowserIsTheSamePersonAtOnce() async throws {
        try await TestServer.with { server async throws in
            let bob = try await server.member("general", nick: "bob")
            try await bob.say(in: "general", (1...30).map { "note \($0)" })
            try await Browser.with { browser async throws in
                let first = try await browser.newPage()
                try await first.open("http://127.0.0.1:\(server.port)/#general")
                try await first.signIn(nick: "ivan", room: "general")
                try await first.waitUntil(Self.online, "online")
                _ = try await bob.next(ofType: "presence")

                let second = try await browser.newPage(besides: first)
                try await second.open("http://127.0.0.1:\(server.port)/")
                try await second.waitUntil(Self.online, "the second tab online")
                try await second.waitUntil(
                    "document.querySelectorAll('.message[data-id]').length === 30",
                    "the history in the second tab"
                )
                #expect(try await second.evaluate(Self.loginVisible).bool == false)
                #expect(try await second.text("#me") == "ivan")
                #expect(try await second.texts("#members li") == ["bob", "ivan"])
                try await first.waitUntil(
                    "document.getElementById('status').dataset.state === 'replaced'",
                    "the first tab to step aside"
                )
                #expect(try await first.text("#reconnect-now") == "use here")
                try await bob.expectSilence(for: .milliseconds(300))  // no leave, no join

                // Closing the tab and opening the page again within the grace period.
                try await browser.closeTab(second)
                let third = try await browser.newPage(besides: first)
                try await third.open("http://127.0.0.1:\(server.port)/")
                try await third.waitUntil(Self.online, "the reopened tab online")
                try await third.waitUntil(
                    "document.querySelectorAll('.message[data-id]').length === 30",
                    "the history in the reopened tab"
                )
                #expect(try await third.evaluate(Self.loginVisible).bool == false)
                #expect(try await third.text("#member-count") == "2")

                // "use here" takes it back in the first tab.
                try await first.click("#reconnect-now")
                try await first.waitUntil(Self.online, "the first tab back")
                try await third.waitUntil(
                    "document.getElementById('status').dataset.state === 'replaced'",
                    "the reopened tab to step aside"
                )
                try await bob.expectSilence(for: .milliseconds(300))
                #expect(await first.problems() == [])
                #expect(await third.problems() == [])
            }
        }
    }

    /// When the nick is refused at start-up, the login form is shown alone, never over a
    /// half-built chat view.
    @Test func aRefusedRememberedNickShowsTheLoginFormAlone() async throws {
        try await TestServer.with { server async throws in
            _ = try await server.member("general", nick: "ivan")
            try await Browser.with { browser async throws in
                let page = try await browser.newPage()
                try await page.open("http://127.0.0.1:\(server.port)/")
                try await page.evaluate(
                    "localStorage.setItem('parley.nick', 'ivan'); localStorage.setItem('parley.rooms', '[\"general\"]')"
                )
                try await page.open("http://127.0.0.1:\(server.port)/")
                try await page.waitUntil("document.getElementById('login-error').textContent !== ''", "the refusal")
                #expect(try await page.evaluate("document.getElementById('chat').hidden").bool == true)
                #expect(try await page.evaluate(Self.loginVisible).bool == true)
                #expect(await page.problems() == [])
            }
        }
    }

    /// What the user types right after joining (or after following a link to a room) lands in
    /// the message box.
    @Test func keystrokesAfterJoiningGoToTheMessageBox() async throws {
        try await TestServer.with { server async throws in
            try await Browser.with { browser async throws in
                let page = try await browser.newPage()
                try await page.open("http://127.0.0.1:\(server.port)/")
                try await page.signIn(nick: "typist", room: "general")
                try await page.waitUntil(Self.online, "online")
                try await page.call("Input.insertText", ["text": "first words"])
                #expect(try await page.evaluate("document.getElementById('text').value").string == "first words")

                try await page.evaluate("location.hash = '#elsewhere'")
                try await page.waitUntil(
                    "document.querySelector('.room-view[data-room=elsewhere]:not([hidden])')",
                    "room"
                )
                try await page.call("Input.insertText", ["text": "more"])
                #expect(try await page.evaluate("document.getElementById('text').value").string == "more")

                try await page.type("third", into: "#join-room")
                try await page.pressEnter()
                try await page.waitUntil("location.hash === '#third'", "the third room")
                try await page.call("Input.insertText", ["text": "again"])
                #expect(try await page.evaluate("document.getElementById('text').value").string == "again")
                #expect(await page.problems() == [])
            }
        }
    }

    /// Nothing the user typed is cut without a word: a long message is counted and held back, a
    /// long room name is refused, not shortened into another room.
    @Test func longTextIsNeverCutSilently() async throws {
        try await TestServer.with { server async throws in
            try await Browser.with { browser async throws in
                let page = try await browser.newPage()
                try await page.open("http://127.0.0.1:\(server.port)/")
                try await page.signIn(nick: "writer", room: "general")
                try await page.waitUntil(Self.online, "online")
                let long = String(repeating: "abcdefghij", count: 410)  // 4,100 characters
                try await page.type(long, into: "#text")
                #expect(try await page.evaluate("document.getElementById('text').value.length").int == 4100)
                try await page.waitUntil("!document.getElementById('text-counter').hidden", "the counter")
                #expect(try await page.text("#text-counter").contains("100"))
                try await page.pressEnter()
                try await Task.sleep(for: .milliseconds(300))
                #expect(try await page.evaluate("document.querySelectorAll('.message').length").int == 0)
                #expect(try await page.evaluate("document.getElementById('text').value.length").int == 4100)

                try await page.evaluate(
                    "const t = document.getElementById('text'); t.value = t.value.slice(0, 4000);"
                        + " t.dispatchEvent(new Event('input'))"
                )
                try await page.pressEnter()
                try await page.waitUntil("document.querySelectorAll('.message[data-id]').length === 1", "sent")
                #expect(
                    try await page.evaluate("document.querySelector('.message[data-id] .text').textContent.length").int
                        == 4000
                )

                let longRoom = String(repeating: "r", count: 70)
                try await page.type(longRoom, into: "#join-room")
                try await page.pressEnter()
                try await page.waitUntil("!document.getElementById('notice').hidden", "the refusal")
                #expect(try await page.text("#notice").contains("64"))
                #expect(try await page.texts(".room-tab .room-name") == ["#general"])
                #expect(await page.problems() == [])
            }
        }
    }

    /// Sending faster than the server's limit: every message goes out, in order, once the server
    /// allows it; the user sees one quiet notice, not a failure per message.
    @Test func sendingFasterThanTheLimitHoldsMessagesAndSendsThemInOrder() async throws {
        var chat = ChatConfiguration(rateLimits: .unlimited)
        chat.rateLimits.sayBurst = 3
        chat.rateLimits.sayPerSecond = 4
        try await TestServer.with(chat: chat) { server async throws in
            try await Browser.with { browser async throws in
                let page = try await browser.newPage()
                try await page.open("http://127.0.0.1:\(server.port)/")
                try await page.signIn(nick: "fast", room: "general")
                try await page.waitUntil(Self.online, "online")
                try await page.evaluate(
                    """
                    window.sawFailure = false;
                    new MutationObserver(() => {
                      if (document.querySelector('.message.failed')) window.sawFailure = true;
                    }).observe(document.body, { subtree: true, childList: true, attributes: true });
                    const text = document.getElementById('text');
                    for (let i = 1; i <= 12; i++) {
                      text.value = 'quick ' + i;
                      document.getElementById('composer').requestSubmit();
                    }
                    """
                )
                try await page.waitUntil("!document.getElementById('notice').hidden", "the notice")
                #expect(try await page.text("#notice").lowercased().contains("slow"))
                try await page.waitUntil(
                    "document.querySelectorAll('.message[data-id]').length === 12",
                    "every message",
                    timeout: .seconds(20)
                )
                #expect(try await page.messages(in: "general") == (1...12).map { "\($0) fast: quick \($0)" })
                #expect(try await page.evaluate("window.sawFailure").bool == false)
                #expect(await page.problems() == [])
            }
        }
    }

    static let online = "document.getElementById('status').dataset.state === 'online'"
    static let loginVisible = "!document.getElementById('login').hidden"
}
