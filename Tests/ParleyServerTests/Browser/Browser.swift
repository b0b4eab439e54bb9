import Foundation

/// Headless Chromium, started for one test and driven over the DevTools protocol.
///
/// The browser is found through `PARLEY_CHROMIUM` or as `chromium`, `chromium-browser` or
/// `google-chrome` on the PATH. A missing browser fails the test: `.ci/run` installs Debian's
/// `chromium`, and a browser test that quietly skips would prove nothing.
final class Browser: Sendable {
    let process: Process
    let log: ProcessLog
    let devTools: DevTools
    let profile: URL

    static func launch() async throws -> Browser {
        let executable = try findChromium()
        let profile = try TestServer.makeDirectory()
        let process = Process()
        process.executableURL = executable
        process.arguments = [
            "--headless=new",
            "--no-sandbox",  // CI runs as root, where Chromium's sandbox refuses to start
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-extensions",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            "--user-data-dir=\(profile.path)",
            "--window-size=1000,700",
            "about:blank",
        ]
        let log = try ProcessLog.run(process)
        do {
            let url = try await log.firstCapture(of: /DevTools listening on (ws:\/\/\S+)/)
            return Browser(process: process, log: log, devTools: try await DevTools(url: url), profile: profile)
        } catch {
            process.terminate()
            throw error
        }
    }

    private init(process: Process, log: ProcessLog, devTools: DevTools, profile: URL) {
        self.process = process
        self.log = log
        self.devTools = devTools
        self.profile = profile
    }

    /// A new tab in a fresh browser context: its own cookies and localStorage, like another person.
    /// With `besides`, a further tab of that page's browser context instead: the same person.
    func newPage(width: Int = 1000, height: Int = 700, besides: BrowserPage? = nil) async throws -> BrowserPage {
        let context: String
        if let besides {
            context = besides.context
        } else {
            context = try await devTools.call("Target.createBrowserContext")["browserContextId"]?.string ?? ""
        }
        let target = try await devTools.call(
            "Target.createTarget",
            ["url": "about:blank", "browserContextId": context]
        )["targetId"]?.string
        guard let target else { throw TestFailure("Chromium opened no tab") }
        let session = try await devTools.call("Target.attachToTarget", ["targetId": target, "flatten": true])[
            "sessionId"
        ]?.string
        guard let session else { throw TestFailure("could not attach to the tab") }
        let page = BrowserPage(devTools: devTools, session: session, context: context, target: target)
        try await page.call("Page.enable")
        try await page.call("Runtime.enable")
        try await page.call(
            "Emulation.setDeviceMetricsOverride",
            ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false]
        )
        return page
    }

    /// Closes a tab, as a user closing it would.
    func closeTab(_ page: BrowserPage) async throws {
        try await devTools.call("Target.closeTarget", ["targetId": page.target])
    }

    func close() async {
        await devTools.close()
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: profile)
    }

    /// Runs `body` with a fresh browser, then closes it.
    static func with<T>(_ body: (Browser) async throws -> T) async throws -> T {
        let browser = try await launch()
        do {
            let result = try await body(browser)
            await browser.close()
            return result
        } catch {
            await browser.close()
            throw error
        }
    }

    static func findChromium() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["PARLEY_CHROMIUM"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let folders = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            for folder in folders {
                let path = "\(folder)/\(name)"
                if FileManager.default.isExecutableFile(atPath: path) { return URL(fileURLWithPath: path) }
            }
        }
        throw TestFailure(
            "No Chromium found for the browser tests: install it (apt-get install chromium) or set PARLEY_CHROMIUM"
        )
    }
}
