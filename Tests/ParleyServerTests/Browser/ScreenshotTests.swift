import Foundation
import Testing

/// The README's screenshots: a lived-in conversation on a desktop and a phone, light and dark.
/// Each is taken after checking that the layout holds (the page does not scroll, the composer and
/// the newest message are on screen); they land in `.build/test-artifacts/` to be looked at, and
/// `scripts/screenshots` copies them to `docs/screenshots/`.
@Suite(.serialized) struct ScreenshotTests {
    @Test(arguments: [("desktop", 1100, 720), ("phone", 390, 844)])
    func theConversationInLightAndDark(screen: String, width: Int, height: Int) async throws {
        try await TestServer.with { server async throws in
            let maya = try await server.member("general", nick: "maya")
            let tom = try await server.member("general", nick: "tom")
            try await maya.join("design")
            try await maya.say(in: "general", ["Morning all! Is the release still on for Friday?"])
            try await tom.say(
                in: "general",
                [
                    "Yes, the checklist is here: https://example.org/release-checklist",
                    "I'll cut the branch after lunch.",
                ]
            )
            try await maya.say(in: "general", ["Great. ana, can you look at the phone layout before then?"])
            try await Browser.with { browser async throws in
                let page = try await browser.newPage(width: width, height: height)
                try await page.open("http://127.0.0.1:\(server.port)/#general")
                try await page.signIn(nick: "ana", room: "general")
                try await page.waitUntil("document.querySelectorAll('.message[data-id]').length === 4", "the history")
                try await page.say("On it — I'll post screenshots in #design.")
                try await page.waitUntil("document.querySelectorAll('.message[data-id]').length === 5", "the reply")
                try await page.type("design", into: "#join-room")
                try await page.pressEnter()
                try await page.waitUntil("location.hash === '#design'", "design")
                // The hash changes before the join is done; a message said before it would be in
                // the room's history, which counts no mention. Maya sees ana arrive once it is done.
                while try await maya.next(ofType: "presence", timeout: .seconds(15))
                    != Event(type: "presence", room: "design", nick: "ana", event: "join")
                {}
                try await page.evaluate("document.querySelector('.room-tab[data-room=general]').click()")
                try await maya.say(in: "design", ["ana: the new icons are in the shared folder"])
                try await page.waitUntil("document.querySelector('.room-tab[data-room=design] .mention-count')", "@")
                try await page.evaluate("document.activeElement.blur()")
                for scheme in ["light", "dark"] {
                    try await page.call(
                        "Emulation.setEmulatedMedia",
                        ["features": [["name": "prefers-color-scheme", "value": scheme]]]
                    )
                    try await Task.sleep(for: .milliseconds(150))
                    let fits = try await page.evaluate(
                        """
                        (() => {
                          const composer = document.getElementById('composer').getBoundingClientRect();
                          const messages = document.querySelectorAll('.room-view:not([hidden]) .message[data-id]');
                          const newest = messages[messages.length - 1].getBoundingClientRect();
                          return document.scrollingElement.scrollHeight <= innerHeight + 1
                            && composer.bottom <= innerHeight && newest.bottom <= composer.top;
                        })()
                        """
                    )
                    #expect(fits.bool == true, "\(screen) \(scheme)")
                    try await page.screenshot(
                        to: ChatPageTests.artifacts.appendingPathComponent("screenshots/\(screen)-\(scheme).png")
                    )
                }
                #expect(await page.problems() == [])
            }
        }
    }
}
