import Foundation

/// One browser tab: run JavaScript in it, type like a user, wait for the page to show something.
struct BrowserPage: Sendable {
    let devTools: DevTools
    let session: String
    /// The browser context (one person's profile) and the tab.
    let context: String
    let target: String

    @discardableResult
    func call(_ method: String, _ parameters: [String: any Sendable] = [:]) async throws -> JSONValue {
        try await devTools.call(method, parameters, session: session)
    }

    /// Opens `url` and waits until the page and its modules have loaded.
    func open(_ url: String) async throws {
        try await call("Page.navigate", ["url": url])
        try await waitUntil("document.readyState === 'complete'", "the page to load")
    }

    /// The value of a JavaScript expression (awaited when it is a promise).
    @discardableResult
    func evaluate(_ expression: String) async throws -> JSONValue {
        let reply = try await call(
            "Runtime.evaluate",
            ["expression": expression, "returnByValue": true, "awaitPromise": true]
        )
        if let exception = reply["exceptionDetails"] {
            throw TestFailure("JavaScript threw: \(exception["exception"]?["description"]?.string ?? "\(exception)")")
        }
        return reply["result"]?["value"] ?? .null
    }

    /// Waits until `condition` (JavaScript) is true.
    func waitUntil(_ condition: String, _ what: String, timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await evaluate("Boolean(\(condition))").bool == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("waited \(timeout) for \(what); status: \(try await text("#status"))")
    }

    /// The text of the first element matching `selector` ("" when there is none).
    func text(_ selector: String) async throws -> String {
        try await evaluate("document.querySelector(\(quoted(selector)))?.textContent ?? ''").string ?? ""
    }

    /// The texts of every element matching `selector`.
    func texts(_ selector: String) async throws -> [String] {
        try await evaluate("[...document.querySelectorAll(\(quoted(selector)))].map(e => e.textContent)").strings ?? []
    }

    /// Focuses the field and types `text` into it, as a keyboard would.
    func type(_ text: String, into selector: String) async throws {
        try await evaluate("document.querySelector(\(quoted(selector))).focus()")
        try await call("Input.insertText", ["text": text])
    }

    /// Presses Enter (with Shift when asked) in the focused element.
    func pressEnter(shift: Bool = false) async throws {
        let key: [String: any Sendable] = [
            "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13,
            "modifiers": shift ? 8 : 0, "text": "\r", "unmodifiedText": "\r",
        ]
        try await call("Input.dispatchKeyEvent", key.merging(["type": "keyDown"]) { $1 })
        try await call("Input.dispatchKeyEvent", key.merging(["type": "keyUp"]) { $1 })
    }

    func click(_ selector: String) async throws {
        try await evaluate("document.querySelector(\(quoted(selector))).click()")
    }

    /// Signs in from the login form and waits until the server has accepted the nick (unless it
    /// is expected to refuse it).
    func signIn(nick: String, room: String, expectRefusal: Bool = false) async throws {
        try await evaluate("document.getElementById('nick').value = ''")
        try await type(nick, into: "#nick")
        try await evaluate("document.getElementById('login-room').value = \(quoted(room))")
        try await click("#login button[type=submit]")
        if expectRefusal {
            try await waitUntil("document.getElementById('login-error').textContent !== ''", "the nick to be refused")
        } else {
            try await waitUntil("document.getElementById('login').hidden", "the sign-in")
        }
    }

    /// Types a message in the composer and sends it with Enter.
    func say(_ text: String) async throws {
        try await type(text, into: "#text")
        try await pressEnter()
    }

    /// The confirmed messages of the room in view, as "id nick: text".
    func messages(in room: String) async throws -> [String] {
        try await evaluate(
            """
            [...document.querySelectorAll('.room-view[data-room=\(quoted(room))] .messages:not(.outgoing) .message')]
              .map(li => li.dataset.id + ' ' + li.querySelector('.nick').textContent + ': '
                + li.querySelector('.text').textContent)
            """
        ).strings ?? []
    }

    /// Saves a PNG of the page.
    func screenshot(to url: URL) async throws {
        let reply = try await call("Page.captureScreenshot", ["format": "png"])
        guard let base64 = reply["data"]?.string, let data = Data(base64Encoded: base64) else {
            throw TestFailure("no screenshot data")
        }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }

    /// Uncaught exceptions and JavaScript dialogs (an `alert` would mean injected script ran).
    func problems() async -> [String] {
        let exceptions = await devTools.events("Runtime.exceptionThrown", session: session).map {
            "exception: \($0["params"]?["exceptionDetails"]?["exception"]?["description"]?.string ?? "\($0)")"
        }
        let dialogs = await devTools.events("Page.javascriptDialogOpening", session: session).map {
            "dialog: \($0["params"]?["message"]?.string ?? "")"
        }
        return exceptions + dialogs
    }

    private func quoted(_ string: String) -> String {
        let data = try? JSONSerialization.data(withJSONObject: [string])
        return String(decoding: data ?? Data("[\"\"]".utf8), as: UTF8.self).dropFirst().dropLast().description
    }
}
