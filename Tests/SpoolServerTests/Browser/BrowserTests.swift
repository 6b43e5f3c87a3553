import Foundation
import Hummingbird
import HummingbirdTesting
import Spool
import Testing
@testable import SpoolServer

/// The dashboard in a real browser: headless Chromium (Debian's `chromium`, which
/// `scripts/test` installs), driven over the DevTools protocol by ``CDPDriver``'s script.
///
/// Runs when Chromium is installed (`/usr/bin/chromium`, or `SPOOL_CHROMIUM`); without it the
/// test is skipped, unless `SPOOL_REQUIRE_SERVERS=1` (set by `scripts/test`), in which case it
/// fails.
@Suite("Dashboard in Chromium", .timeLimit(.minutes(3)))
struct BrowserTests {
    static let chromium = ProcessInfo.processInfo.environment["SPOOL_CHROMIUM"] ?? "/usr/bin/chromium"
    static var installed: Bool { FileManager.default.isExecutableFile(atPath: chromium) }
    static var required: Bool { ProcessInfo.processInfo.environment["SPOOL_REQUIRE_SERVERS"] == "1" }

    @Test(
        "the dashboard loads in Chromium, shows an enqueued job, and retries a dead job by its button",
        .enabled(if: installed || required, "Chromium is not installed (scripts/test installs the Debian package 'chromium')")
    )
    func chromiumRetriesADeadJob() async throws {
        try #require(Self.installed, "SPOOL_REQUIRE_SERVERS=1 but \(Self.chromium) is missing: install the Debian package 'chromium'")
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("spool-cdp-\(UUID().uuidString).py").path
        try CDPDriver.script.write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }

        let storage = MemoryStorage()
        let shown = try await store(storage, kind: "report.build", queue: "reports", payload: #"{"month": "2026-11"}"#)
        try await store(storage, kind: "mail.send", queue: "mail", maxAttempts: 1)
        let dead = try await makeDead(storage, queue: "mail")
        let server = makeServer(storage) { $0.adminToken = "browser-secret" }
        try await server.makeApplication().test(.live) { client in
            let port = try #require(client.port)
            let base = "http://127.0.0.1:\(port)"
            let run = try await PythonProcess.run(
                [
                    script, "--chromium", Self.chromium, "--timeout", "90",
                    // Signs in through the link (the token becomes a cookie), then browses.
                    "open:\(base)/?token=browser-secret", "expect:Overview", "expect:reports", "expect:Retry all 1 dead",
                    "open:\(base)/jobs", "expect:\(shown)", "expect:report.build",
                    "open:\(base)/jobs/\(dead)", "expect:boom", "expect:dead",
                    "click:form.retry button", "expect:Job \(dead) was retried", "absent:Retry",
                ],
                environment: [:], timeout: .seconds(120)
            )
            #expect(run.status == 0, "\(run.output)")
            #expect(run.output.contains("click form.retry button: ok (/jobs/\(dead)?notice="), "\(run.output)")
        }
        #expect(try await storage.job(dead)?.state == .available)
        #expect(try await storage.job(shown)?.state == .available)
    }
}
