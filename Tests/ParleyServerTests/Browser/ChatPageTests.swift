import Foundation
import ParleyChat
import Testing

/// The chat page in real headless Chromium against a real server: what browser users do.
@Suite(.serialized) struct ChatPageTests {
    /// Screenshots land here (`.build/test-artifacts/`), to be looked at after a run.
    static let artifacts = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/test-artifacts")

    @Test func twoPeopleChatInSeveralRoomsAndSeeMembersComeAndGo() async throws {
        try await TestServer.with { server async throws in
            try await Browser.with { browser async throws in
                let alice = try await browser.newPage()
                let bob = try await browser.newPage()
                let page = "http://127.0.0.1:\(server.port)/#general"
                try await alice.open(page)
                try await alice.signIn(nick: "alice", room: "general")
                try await alice.waitUntil("document.getElementById('status').dataset.state === 'online'", "online")
                try await bob.open(page)
                try await bob.signIn(nick: "bob", room: "general")
                try await alice.waitUntil(
                    "[...document.querySelectorAll('#members li')].some(li => li.textContent === 'bob')",
                    "bob in alice's member list"
                )
                #expect(try await bob.texts("#members li") == ["alice", "bob"])

                try await alice.say("hello bob")
                try await bob.waitUntil(
                    "document.querySelectorAll('.message[data-id]').length === 1",
                    "alice's message"
                )
                try await bob.type("first line", into: "#text")
                try await bob.pressEnter(shift: true)
                try await bob.type("second line", into: "#text")
                try await bob.pressEnter()
                try await alice.waitUntil(
                    "document.querySelectorAll('.message[data-id]').length === 2",
                    "bob's message"
                )
                #expect(
                    try await alice.messages(in: "general") == ["1 alice: hello bob", "2 bob: first line\nsecond line"]
                )
                #expect(
                    try await bob.messages(in: "general") == ["1 alice: hello bob", "2 bob: first line\nsecond line"]
                )
                #expect(try await alice.evaluate("document.getElementById('text').value").string == "")

                // A second room, joined from the room list; the first keeps counting unread messages.
                for page in [alice, bob] {
                    try await page.type("random", into: "#join-room")
                    try await page.pressEnter()
                    try await page.waitUntil("location.hash === '#random'", "the random room in view")
                }
                try await alice.waitUntil("document.querySelectorAll('#members li').length === 2", "bob in random")
                try await alice.say("over here")
                try await bob.waitUntil(
                    "document.querySelector('.room-view[data-room=random] .message[data-id]')",
                    "the message in random"
                )
                try await bob.evaluate("document.querySelector('.room-tab[data-room=general]').click()")
                try await bob.say("back in general")
                try await alice.waitUntil(
                    "document.querySelector('.room-tab[data-room=general] .unread')?.textContent === '1'",
                    "an unread count on general"
                )
                try await alice.evaluate("document.querySelector('.room-tab[data-room=general]').click()")
                #expect(try await alice.text(".room-tab[data-room=general] .unread") == "")
                #expect(try await alice.messages(in: "general").last == "3 bob: back in general")
                #expect(try await alice.messages(in: "random") == ["1 alice: over here"])

                try await alice.screenshot(to: Self.artifacts.appendingPathComponent("chat-page.png"))

                // Bob leaves general: alice sees him go from general's list, and he stays in random.
                try await bob.evaluate("document.querySelector('.room-item .leave').click()")
                try await alice.waitUntil(
                    "![...document.querySelectorAll('#members li')].some(li => li.textContent === 'bob')",
                    "bob gone from general's members"
                )
                #expect(try await bob.texts(".room-tab .room-name") == ["#random"])
                #expect(await alice.problems() == [])
                #expect(await bob.problems() == [])
            }
        }
    }

    @Test func aLateJoinerSeesTheHistoryAndOlderPagesLoadOnRequest() async throws {
        try await TestServer.with { server async throws in
            let seeder = try await server.member("archive", nick: "seeder")
            try await seeder.say(in: "archive", (1...120).map { "note \($0)" })
            try await Browser.with { browser async throws in
                let reader = try await browser.newPage(width: 800, height: 500)
                try await reader.open("http://127.0.0.1:\(server.port)/#archive")
                try await reader.signIn(nick: "reader", room: "archive")
                try await reader.waitUntil(
                    "document.querySelectorAll('.message[data-id]').length === 50",
                    "the history"
                )
                #expect(try await reader.messages(in: "archive").first == "71 seeder: note 71")
                // The newest message is in view, not the oldest.
                try await reader.waitUntil(Self.atBottom, "scrolled down")

                try await reader.click(".room-view:not([hidden]) .older")
                try await reader.waitUntil(
                    "document.querySelectorAll('.message[data-id]').length === 100",
                    "a page back"
                )
                // Loading older messages does not yank the view to the top.
                #expect(
                    try await reader.evaluate("document.querySelector('.room-view:not([hidden]) .scroller').scrollTop")
                        .int ?? 0 > 0
                )
                try await reader.click(".room-view:not([hidden]) .older")
                try await reader.waitUntil("document.querySelectorAll('.message[data-id]').length === 120", "the rest")
                try await reader.waitUntil(
                    "document.querySelector('.room-view:not([hidden]) .older').hidden",
                    "no more pages"
                )
                let messages = try await reader.messages(in: "archive")
                #expect(messages == (1...120).map { "\($0) seeder: note \($0)" })

                // Reading older messages: a new one does not scroll the view away, it shows a button.
                try await reader.evaluate("document.querySelector('.room-view:not([hidden]) .scroller').scrollTop = 0")
                try await Task.sleep(for: .milliseconds(100))
                try await seeder.say(in: "archive", ["note 121"])
                try await reader.waitUntil(
                    "document.querySelectorAll('.message[data-id]').length === 121",
                    "the new message"
                )
                #expect(
                    try await reader.evaluate("document.querySelector('.room-view:not([hidden]) .scroller').scrollTop")
                        .int == 0
                )
                #expect(
                    try await reader.evaluate("document.querySelector('.room-view:not([hidden]) .new-below').hidden")
                        .bool == false
                )
                try await reader.click(".room-view:not([hidden]) .new-below")
                try await reader.waitUntil(Self.atBottom, "back at the newest")
                #expect(await reader.problems() == [])
            }
        }
    }

    @Test func userTextIsShownLiterallyAndRunsNothing() async throws {
        try await TestServer.with { server async throws in
            let mallory = try await server.member("general", nick: "mallory")
            try await mallory.say(in: "general", ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>"])
            try await Browser.with { browser async throws in
                let alice = try await browser.newPage()
                try await alice.open("http://127.0.0.1:\(server.port)/#general")
                try await alice.signIn(nick: "alice", room: "general")
                try await alice.waitUntil("document.querySelectorAll('.message[data-id]').length === 2", "the history")
                try await alice.say("<b>bold?</b> <a href=javascript:alert(3)>link</a>")
                try await alice.waitUntil("document.querySelectorAll('.message[data-id]').length === 3", "her message")
                #expect(
                    try await alice.messages(in: "general") == [
                        "1 mallory: <img src=x onerror=alert(1)>",
                        "2 mallory: <script>alert(2)</script>",
                        "3 alice: <b>bold?</b> <a href=javascript:alert(3)>link</a>",
                    ]
                )
                #expect(
                    try await alice.evaluate(
                        "document.querySelectorAll('.messages img, .messages script, .messages b, .messages a').length"
                    ).int == 0
                )
                try await Task.sleep(for: .milliseconds(200))  // time for an onerror handler to have fired
                #expect(await alice.problems() == [])
            }
        }
    }

    @Test func aRefusedMessageSaysWhyAndOffersRetryAndDiscard() async throws {
        try await TestServer.with { server async throws in
            try await Browser.with { browser async throws in
                let page = try await browser.newPage()
                try await page.open("http://127.0.0.1:\(server.port)/#general")
                try await page.signIn(nick: "pat", room: "general")
                // A control character: the server answers invalid_text to this say.
                try await page.say("ring \u{7}")
                try await page.waitUntil("document.querySelector('.outgoing .message.failed')", "the refusal")
                #expect(try await page.text(".outgoing .failed .delivery").hasPrefix("not sent: "))
                #expect(try await page.texts(".outgoing .failed .delivery button") == ["Retry", "Discard"])
                try await page.click(".outgoing .failed .delivery button")  // Retry: refused again
                try await page.waitUntil("document.querySelector('.outgoing .message.failed')", "the second refusal")
                try await page.evaluate("document.querySelectorAll('.outgoing .failed .delivery button')[1].click()")
                #expect(try await page.evaluate("document.querySelectorAll('.outgoing .message').length").int == 0)
                #expect(try await page.messages(in: "general") == [])
                #expect(await page.problems() == [])
            }
        }
    }

    @Test func aTakenNickIsReportedAndAnotherCanBePicked() async throws {
        try await TestServer.with { server async throws in
            let holder = try await server.member("general", nick: "alice")
            try await Browser.with { browser async throws in
                let page = try await browser.newPage()
                try await page.open("http://127.0.0.1:\(server.port)/")
                try await page.signIn(nick: "Alice", room: "general", expectRefusal: true)
                #expect(try await page.text("#login-error").contains("in use"))
                #expect(try await page.evaluate("document.getElementById('login').hidden").bool == false)

                try await page.signIn(nick: "alice2", room: "general")
                #expect(try await page.text("#me") == "alice2")
                #expect(try await page.texts("#members li") == ["alice", "alice2"])
                #expect(try await page.evaluate("localStorage.getItem('parley.nick')").string == "alice2")
                _ = try await holder.next(ofType: "presence")
                #expect(await page.problems() == [])
            }
        }
    }

    @Test func aRefusedNickIsNotRetriedBehindTheUsersBack() async throws {
        // The server closes a connection that joined nothing after a second; the page then
        // reconnects, and must not retry the refused nick and pull the focus into the nick field.
        let chat = ChatConfiguration(rateLimits: .unlimited, joinTimeout: .seconds(1))
        try await TestServer.with(chat: chat) { server async throws in
            _ = try await server.member("general", nick: "alice")
            try await Browser.with { browser async throws in
                let page = try await browser.newPage()
                try await page.open("http://127.0.0.1:\(server.port)/")
                try await page.signIn(nick: "alice", room: "general", expectRefusal: true)
                try await page.evaluate("document.getElementById('login-room').focus()")
                try await page.waitUntil(
                    "document.getElementById('status').dataset.state === 'waiting'",
                    "the server to close the idle connection"
                )
                try await page.waitUntil("document.getElementById('status').dataset.state === 'online'", "a reconnect")
                try await Task.sleep(for: .milliseconds(500))
                #expect(try await page.evaluate("document.activeElement.id").string == "login-room")
                #expect(await page.problems() == [])
            }
        }
    }

    /// Over the WebSocket, and over the HTTP transport with the server refusing WebSockets (as a
    /// network that strips the upgrade would): the page falls back on its own.
    @Test(arguments: Transport.allCases)
    func thePageComesBackAfterARestartWithEveryMessageOnce(_ transport: Transport) async throws {
        let directory = try TestServer.makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // A short join history, so that only a rejoin with `since` can bring every missed message.
        let options = ["--history", "2"] + (transport == .eventStream ? ["--no-websocket"] : [])
        let onlineLabel = transport == .eventStream ? "online (compatibility mode)" : "online"
        var server = try await ServerProcess(directory: directory, arguments: options)
        let port = server.port
        try await Browser.with { browser async throws in
            let alice = try await browser.newPage()
            try await alice.open("http://127.0.0.1:\(port)/#general")
            try await alice.signIn(nick: "alice", room: "general")
            try await alice.waitUntil("document.getElementById('status').dataset.state === 'online'", "online")
            #expect(try await alice.text("#status") == onlineLabel)
            try await alice.type("random", into: "#join-room")
            try await alice.pressEnter()
            try await alice.waitUntil("document.querySelector('.room-view[data-room=random]')", "random")
            try await alice.evaluate("document.querySelector('.room-tab[data-room=general]').click()")
            try await alice.say("before the restart")
            try await alice.waitUntil("document.querySelectorAll('.message[data-id]').length === 1", "her message")

            // The server goes away; what she writes now waits, visibly, instead of being lost.
            try await server.stop()
            try await alice.waitUntil("document.getElementById('status').dataset.state === 'waiting'", "reconnecting")
            #expect(try await alice.text("#status").hasPrefix("reconnecting in"))
            try await alice.say("written while offline")
            #expect(try await alice.texts(".outgoing .message .text") == ["written while offline"])

            // Hold the page still (its timers included) so that bob's messages are certainly sent
            // while it is away and reach it as backlog, not live.
            try await alice.call("Debugger.enable")
            try await alice.call("Debugger.pause")
            _ = try await browser.devTools.waitForEvent("Debugger.paused", session: alice.session)
            server = try await ServerProcess(directory: directory, port: port, arguments: options)
            let bob = try await ChatClient.connect(server.webSocketURL, transport: transport)
            try await bob.join("general", nick: "bob")
            try await bob.say(in: "general", ["missed 1", "missed 2", "missed 3"])
            try await bob.join("random")
            try await bob.say(in: "random", ["missed in random"])
            try await alice.call("Debugger.resume")
            try await alice.call("Debugger.disable")

            try await alice.waitUntil("document.getElementById('status').dataset.state === 'online'", "back online")
            #expect(try await alice.text("#status") == onlineLabel)
            try await alice.waitUntil(
                "document.querySelectorAll('.outgoing .message').length === 0",
                "the queued message sent"
            )
            try await alice.waitUntil(
                "document.querySelectorAll('.room-view[data-room=general] .message[data-id]').length === 5",
                "the backlog"
            )
            let expected = [
                "1 alice: before the restart", "2 bob: missed 1", "3 bob: missed 2", "4 bob: missed 3",
                "5 alice: written while offline",
            ]
            #expect(try await alice.messages(in: "general") == expected)
            #expect(try await alice.messages(in: "random") == ["1 bob: missed in random"])
            #expect(try await alice.text(".room-tab[data-room=random] .unread") == "1")

            // Live again: one more message each way, still once each.
            try await bob.say(in: "general", ["welcome back"])
            try await alice.waitUntil(
                "document.querySelectorAll('.room-view[data-room=general] .message[data-id]').length === 6",
                "a live message"
            )
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await alice.messages(in: "general") == expected + ["6 bob: welcome back"])
            #expect(await alice.problems() == [])
        }
        try await server.stop()
    }

    /// A reload resumes the session: the others see no leave and join. Another device resuming
    /// the same session stops this page, which says so and does not fight back.
    @Test func aReloadKeepsTheSessionAndATakeoverStopsThePage() async throws {
        try await TestServer.with { server async throws in
            let bob = try await server.member("general", nick: "bob")
            try await Browser.with { browser async throws in
                let alice = try await browser.newPage()
                try await alice.open("http://127.0.0.1:\(server.port)/#general")
                try await alice.signIn(nick: "alice", room: "general")
                try await alice.waitUntil("document.getElementById('status').dataset.state === 'online'", "online")
                #expect(
                    try await bob.next(ofType: "presence")
                        == Event(type: "presence", room: "general", nick: "alice", event: "join")
                )
                let token = try #require(try await alice.evaluate("localStorage.getItem('parley.session')").string)
                #expect(token.count == 32)

                try await alice.evaluate("window.beforeReload = true")
                try await alice.call("Page.reload")
                let deadline = ContinuousClock.now + .seconds(15)
                var reloaded = false
                while !reloaded && ContinuousClock.now < deadline {
                    // Evaluating fails while the old document goes away: that is not an answer yet.
                    let state = try? await alice.evaluate(
                        "!window.beforeReload && document.getElementById('status')?.dataset.state === 'online'"
                            + " && document.querySelectorAll('#members li').length === 2"
                    )
                    reloaded = state?.bool == true
                    if !reloaded { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(reloaded)
                try await bob.expectSilence(for: .milliseconds(500))  // no leave, no join
                try await alice.say("still me")
                let seen = try await bob.next(ofType: "message")
                #expect(seen.nick == "alice" && seen.text == "still me")

                let phone = try await ChatClient.connect(server.url)
                #expect(try await phone.join("general", resume: token).joined.nick == "alice")
                try await alice.waitUntil(
                    "document.getElementById('status').dataset.state === 'replaced'",
                    "the page to see it was replaced"
                )
                #expect(try await alice.text("#status") == "signed in from another tab or device")
                try await Task.sleep(for: .seconds(2))  // longer than the first reconnect delay
                #expect(
                    try await alice.evaluate("document.getElementById('status').dataset.state").string == "replaced"
                )
                try await bob.expectSilence(for: .milliseconds(300))
                #expect(await alice.problems() == [])
            }
        }
    }

    @Test func thePageFitsAPhoneScreen() async throws {
        try await TestServer.with { server async throws in
            let friend = try await server.member("general", nick: "friend")
            try await friend.say(
                in: "general",
                ["a fairly long message that has to wrap on a narrow screen rather than overflow it"]
            )
            try await Browser.with { browser async throws in
                let phone = try await browser.newPage(width: 390, height: 700)
                try await phone.open("http://127.0.0.1:\(server.port)/#general")
                try await phone.signIn(nick: "phone", room: "general")
                try await phone.waitUntil("document.querySelectorAll('.message[data-id]').length === 1", "the history")
                try await phone.say("short reply")
                try await phone.waitUntil("document.querySelectorAll('.message[data-id]').length === 2", "the reply")
                #expect(try await phone.evaluate("document.documentElement.scrollWidth").int ?? 9999 <= 390)
                try await phone.screenshot(to: Self.artifacts.appendingPathComponent("chat-page-phone.png"))
                #expect(await phone.problems() == [])
            }
        }
    }

    static let atBottom = """
        (() => { const s = document.querySelector('.room-view:not([hidden]) .scroller');
          return s.scrollHeight - s.scrollTop - s.clientHeight < 40; })()
        """
}
