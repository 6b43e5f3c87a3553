import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle
import Spool
import SpoolTesting
import Testing
@testable import SpoolServer

/// Stores one job directly (no HTTP), available at once.
@discardableResult
func store(
    _ storage: any JobStorage, kind: String = "mail.send", queue: String = "default", payload: String = "{}", maxAttempts: Int = 3
) async throws -> JobID {
    let now = Date()
    let job = NewJob(
        queue: queue, kind: kind, payload: JobPayload(bytes: Array(payload.utf8)), maxAttempts: maxAttempts, runAt: now, createdAt: now)
    return try await storage.enqueue([job], whenFull: .fail, now: now)[0].id
}

extension TestClientProtocol {
    /// Posts a dashboard form (URL-encoded fields) with optional extra headers.
    func post(_ uri: String, form fields: [(String, String)], headers extra: HTTPFields = [:]) async throws -> Reply {
        let body = fields.map { DashboardURL.encode($0.0) + "=" + DashboardURL.encode($0.1) }.joined(separator: "&")
        var headers = extra
        headers[.contentType] = "application/x-www-form-urlencoded"
        headers[.contentLength] = String(body.utf8.count)
        let response = try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
        let text = String(decoding: response.body.readableBytesView, as: UTF8.self)
        return Reply(status: response.status, headers: response.headers, text: text, json: nil)
    }

    /// Gets a dashboard page with optional extra headers (a cookie, a token).
    func page(_ uri: String, headers: HTTPFields = [:]) async throws -> Reply {
        let response = try await execute(uri: uri, method: .get, headers: headers, body: nil)
        let text = String(decoding: response.body.readableBytesView, as: UTF8.self)
        return Reply(status: response.status, headers: response.headers, text: text, json: nil)
    }
}

@Suite("Dashboard")
struct DashboardTests {
    @Test func theOverviewShowsQueuesCountsPauseAndCharts() async throws {
        let storage = MemoryStorage()
        try await store(storage, queue: "mail")
        try await store(storage, queue: "mail")
        try await store(storage, queue: "reports", maxAttempts: 1)
        _ = try await makeDead(storage, queue: "reports")
        try await storage.setPaused(true, queue: "mail")
        let server = makeServer(storage)
        try await withClient(server) { client in
            let page = try await client.page("/")
            #expect(page.status == .ok)
            #expect(page.contentType == "text/html; charset=utf-8")
            #expect(page.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            #expect(page.text.contains("<h1>Overview</h1>"))
            #expect(page.text.contains(#"<a href="/jobs?queue=mail">mail</a>"#))
            #expect(page.text.contains(#"<span class="badge paused">paused</span>"#))
            #expect(page.text.contains(#"action="/queues/resume""#), "a paused queue offers resume")
            #expect(page.text.contains(#"action="/queues/pause""#), "a running queue offers pause")
            #expect(page.text.contains("Retry all 1 dead"))
            #expect(page.text.contains(#"name="csrf" value="\#(server.formToken)""#))
            #expect(page.text.components(separatedBy: "<svg class=\"chart\"").count == 3, "two charts")
            #expect(page.text.contains("-60 min") && page.text.contains(">now<"), "the charts have axis labels")
            #expect(page.text.contains("location.reload()"), "the overview refreshes itself")
        }
    }

    @Test func aJobPageEscapesWhatItShows() async throws {
        let storage = MemoryStorage()
        let server = makeServer(storage)
        try await withClient(server) { client in
            let created = try await client.call(
                .post, "/v1/jobs", body: #"{"kind": "mail.send", "payload": {"html": "<script>alert('x')</script>", "n": 1.50}}"#
            )
            let id = try #require(created["id"]?.stringValue)
            let page = try await client.page("/jobs/\(id)")
            #expect(page.status == .ok)
            #expect(!page.text.contains("<script>alert"))
            #expect(page.text.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
            #expect(page.text.contains("&quot;n&quot;: 1.50"), "the payload is indented JSON with its numbers as sent")
            #expect(page.text.components(separatedBy: "<script").count == 2, "only the refresh script: \(page.text)")
            #expect(page.text.contains(#"<script nonce=""#))
            #expect(page.text.contains(#"class="action cancel""#), "an available job can be cancelled")
            #expect(!page.text.contains(#"class="action retry""#), "an available job cannot be retried")

            let missing = try await client.page("/jobs/\(JobID())")
            #expect(missing.status == .notFound)
            #expect(missing.contentType == "text/html; charset=utf-8")
        }
        // An error message is escaped too, and a dead job offers retry and does not refresh.
        try await store(storage, queue: "bad", maxAttempts: 1)
        let claimed = try await storage.claim(
            ClaimRequest(demands: [QueueDemand(queue: "bad", limit: 1)], worker: "w", lease: .seconds(30)), now: Date())
        let job = try #require(claimed.first)
        let error = JobAttemptError(attempt: 1, at: Date(), message: "<img src=x onerror=alert(1)>", reason: "permanent")
        _ = try await storage.finish([JobCompletion(id: job.id, outcome: .dead(error: error), at: Date())], worker: "w")
        try await withClient(server) { client in
            let page = try await client.page("/jobs/\(job.id)")
            #expect(page.text.contains("&lt;img src=x onerror=alert(1)&gt;"))
            #expect(!page.text.contains("<img"))
            #expect(page.text.contains(#"class="action retry""#))
            #expect(!page.text.contains("location.reload()"), "a finished job's page does not refresh")
        }
    }

    @Test func actionsRedirectBackAndChangeState() async throws {
        let storage = MemoryStorage()
        try await store(storage, queue: "q", maxAttempts: 1)
        let dead = try await makeDead(storage, queue: "q")
        let live = try await store(storage, queue: "q")
        let server = makeServer(storage)
        try await withClient(server) { client in
            let token = server.formToken
            let retried = try await client.post("/jobs/\(dead)/retry", form: [("csrf", token), ("back", "/jobs/\(dead)")])
            #expect(retried.status == .seeOther)
            let location = try #require(retried.headers[.location])
            #expect(location.hasPrefix("/jobs/\(dead)?notice="), "\(location)")
            #expect(try await storage.job(dead)?.state == .available)
            let shown = try await client.page(location)
            #expect(shown.text.contains(#"<p class="notice" role="status">Job \#(dead) was retried"#))

            // Retrying a job that is not dead changes nothing and says so.
            let again = try await client.post("/jobs/\(dead)/retry", form: [("csrf", token), ("back", "/")])
            #expect(again.headers[.location]?.contains("Nothing%20changed") == true)

            let cancelled = try await client.post("/jobs/\(live)/cancel", form: [("csrf", token), ("back", "//evil.example/")])
            #expect(cancelled.status == .seeOther)
            #expect(cancelled.headers[.location]?.hasPrefix("/jobs/\(live)?notice=") == true, "a back that leaves the site is ignored")
            #expect(try await storage.job(live)?.state == .cancelled)

            let paused = try await client.post("/queues/pause", form: [("csrf", token), ("queue", "q"), ("back", "/")])
            #expect(paused.status == .seeOther)
            #expect(try await storage.pausedQueues() == ["q"])
            _ = try await client.post("/queues/resume", form: [("csrf", token), ("queue", "q")])
            #expect(try await storage.pausedQueues().isEmpty)

            let deleted = try await client.post("/jobs/\(live)/delete", form: [("csrf", token), ("back", "/jobs?queue=q")])
            #expect(deleted.headers[.location]?.hasPrefix("/jobs?queue=q&notice=") == true)
            #expect(try await storage.job(live) == nil)

            // Without the form token (another site's form, or a page from before a restart): 403.
            let forged = try await client.post("/jobs/\(dead)/cancel", form: [("back", "/")])
            #expect(forged.status == .forbidden)
            let stale = try await client.post("/jobs/\(dead)/cancel", form: [("csrf", "0123"), ("back", "/")])
            #expect(stale.status == .forbidden)
            #expect(try await storage.job(dead)?.state == .available)
        }
    }

    @Test func retryAllDeadRetriesEveryDeadJobOfTheQueueOnly() async throws {
        let storage = MemoryStorage()
        var dead: [JobID] = []
        for _ in 0..<3 {
            try await store(storage, queue: "q", maxAttempts: 1)
            dead.append(try await makeDead(storage, queue: "q"))
        }
        try await store(storage, queue: "other", maxAttempts: 1)
        let otherDead = try await makeDead(storage, queue: "other")
        let server = makeServer(storage)
        try await withClient(server) { client in
            let reply = try await client.post("/queues/retry-dead", form: [("csrf", server.formToken), ("queue", "q"), ("back", "/")])
            #expect(reply.status == .seeOther)
            #expect(reply.headers[.location] == "/?notice=Retried%203%20dead%20jobs%20of%20queue%20q.")
        }
        for id in dead { #expect(try await storage.job(id)?.state == .available) }
        #expect(try await storage.job(otherDead)?.state == .dead)
    }

    @Test func listsFilterSearchAndPage() async throws {
        let storage = MemoryStorage()
        var made: [JobID] = []
        for _ in 0..<55 { made.append(try await store(storage, kind: "image.resize", queue: "images")) }
        let ids = made
        let mail = try await store(storage, kind: "mail.send", queue: "mail")
        try await withClient(makeServer(storage)) { client in
            let first = try await client.page("/jobs?state=available&queue=images")
            #expect(first.status == .ok)
            #expect(first.text.contains("<h1>Available jobs</h1>"))
            #expect(first.text.components(separatedBy: "<td class=\"id\">").count == 51, "a page of 50")
            #expect(!first.text.contains(mail.description), "the queue filter holds")
            #expect(first.text.contains(ids[54].description), "newest first")
            let older = try #require(
                first.text.range(of: #"class="older" href=""#).map { first.text[$0.upperBound...].prefix { $0 != "\"" } })
            let second = try await client.page(String(older).replacingOccurrences(of: "&amp;", with: "&"))
            #expect(second.text.components(separatedBy: "<td class=\"id\">").count == 6)
            #expect(second.text.contains(ids[0].description))
            #expect(!second.text.contains("location.reload()"), "an older page does not refresh")

            let byKind = try await client.page("/jobs?q=MAIL")
            #expect(byKind.text.contains(mail.description))
            #expect(!byKind.text.contains(ids[0].description))
            #expect(byKind.text.contains("Searched 56 jobs"))

            let byPrefix = try await client.page("/jobs?q=" + String(mail.description.prefix(24)).lowercased())
            #expect(byPrefix.text.contains(mail.description))
            let byID = try await client.page("/jobs?q=\(ids[3])")
            #expect(byID.text.components(separatedBy: "<td class=\"id\">").count == 2)

            let bad = try await client.page("/jobs?state=bogus")
            #expect(bad.status == .badRequest)
            #expect(bad.contentType == "text/html; charset=utf-8")
        }
    }

    @Test func tokensGuardTheDashboardAndTheReadOnlyTokenCannotAct() async throws {
        let storage = MemoryStorage()
        try await store(storage, queue: "q", maxAttempts: 1)
        let dead = try await makeDead(storage, queue: "q")
        let server = makeServer(storage) {
            $0.adminToken = "admin-secret"
            $0.readToken = "read-secret"
        }
        try await withClient(server) { client in
            let anonymous = try await client.page("/")
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.text.contains(#"<input type="password" name="token""#), "a sign-in form")

            var reader = HTTPFields()
            reader[.authorization] = "Bearer read-secret"
            let read = try await client.page("/jobs/\(dead)", headers: reader)
            #expect(read.status == .ok)
            #expect(!read.text.contains(#"method="post""#), "no buttons for the read-only token")
            #expect(read.text.contains("read-only token"))
            let refused = try await client.post("/jobs/\(dead)/retry", form: [("csrf", server.formToken), ("back", "/")], headers: reader)
            #expect(refused.status == .forbidden)
            #expect(try await storage.job(dead)?.state == .dead)

            // A browser signs in once with ?token= and keeps a cookie; the link loses the token.
            let signIn = try await client.page("/jobs?state=dead&token=admin-secret")
            #expect(signIn.status == .seeOther)
            #expect(signIn.headers[.location] == "/jobs?state=dead")
            let cookie = try #require(signIn.headers[.setCookie])
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
            var browser = HTTPFields()
            browser[.cookie] = String(cookie.prefix { $0 != ";" })
            let list = try await client.page("/jobs?state=dead", headers: browser)
            #expect(list.status == .ok)
            #expect(list.text.contains(dead.description))
            let retried = try await client.post("/jobs/\(dead)/retry", form: [("csrf", server.formToken), ("back", "/")], headers: browser)
            #expect(retried.status == .seeOther)
            #expect(try await storage.job(dead)?.state == .available)

            let wrong = try await client.page("/?token=nope")
            #expect(wrong.status == .unauthorized)
            var badCookie = HTTPFields()
            badCookie[.cookie] = "spool_token=nope"
            #expect(try await client.page("/", headers: badCookie).status == .unauthorized)
            // The API never takes the cookie.
            let api = try await client.page("/v1/stats", headers: browser)
            #expect(api.status == .unauthorized)
        }
    }

    @Test func withNoTokenEverythingIsOpen() async throws {
        let storage = MemoryStorage()
        try await store(storage, queue: "q")
        try await withClient(makeServer(storage)) { client in
            let page = try await client.page("/")
            #expect(page.status == .ok)
            #expect(page.text.contains(#"action="/queues/pause""#))
        }
    }
}

@Suite("Dashboard HTML and forms")
struct DashboardHTMLTests {
    @Test func interpolatedTextIsEscapedAndOnlyHTMLGoesInAsItIs() {
        let value = #"<a href="x">Tom & 'Jerry'</a>"#
        let bold: HTML = "<b>\(value)</b>"
        #expect(bold.text == "<b>&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;</b>")
        let nested: HTML = "<p>\(bold) \(42)</p>"
        #expect(nested.text == "<p>\(bold.text) 42</p>")
    }

    @Test func formsAndLinksAreEncodedBothWays() {
        let fields = FormFields("a=1&b=two+words&c=%2F%3F%26&d&e=%ZZ")
        #expect(fields["a"] == "1")
        #expect(fields["b"] == "two words")
        #expect(fields["c"] == "/?&")
        #expect(fields["d"] == nil, "an empty field counts as absent")
        #expect(fields["e"] == "%ZZ", "a malformed escape is kept")
        #expect(DashboardURL.make("/jobs", [("q", "a b&c"), ("state", nil), ("kind", "")]) == "/jobs?q=a%20b%26c")
        #expect(DashboardURL.isLocal("/jobs?state=dead"))
        for target in ["//evil.example/", "https://evil.example/", "/\\evil.example", "jobs", "/a\nb"] {
            #expect(!DashboardURL.isLocal(target), "\(target)")
        }
        #expect(DashboardRoutes.adding(notice: "done", to: "/jobs?queue=q&notice=old") == "/jobs?queue=q&notice=done")
    }
}

@Suite("Dashboard throughput history", .timeLimit(.minutes(1)))
struct ThroughputHistoryTests {
    static func stats(succeeded: Int, dead: Int) -> StorageStats {
        StorageStats(queues: ["a": [.succeeded: succeeded, .dead: dead], "b": [.available: 7]])
    }

    @Test func booksGrowthPerMinuteAfterTheFirstSample() {
        let history = ThroughputHistory()
        let start = Date(timeIntervalSince1970: 1_800_000_000)  // a whole minute
        history.record(Self.stats(succeeded: 100, dead: 5), at: start)
        #expect(history.since == start)
        #expect(history.lastHour(now: start).allSatisfy { $0.succeeded == 0 && $0.dead == 0 }, "the first sample is the baseline")

        history.record(Self.stats(succeeded: 103, dead: 6), at: start.addingTimeInterval(10))
        history.record(Self.stats(succeeded: 110, dead: 6), at: start.addingTimeInterval(50))
        history.record(Self.stats(succeeded: 111, dead: 2), at: start.addingTimeInterval(70))  // dead jobs were retried
        let hour = history.lastHour(now: start.addingTimeInterval(70))
        #expect(hour.count == 60)
        #expect(hour[58] == .init(minute: ThroughputHistory.minute(of: start), succeeded: 10, dead: 1))
        #expect(hour[59].succeeded == 1 && hour[59].dead == 0, "a drop counts as zero, not negative")
        #expect(hour.prefix(58).allSatisfy { $0.succeeded == 0 && $0.dead == 0 })

        // An hour later the old minutes are gone from the ring.
        let later = start.addingTimeInterval(3600 + 70)
        history.record(Self.stats(succeeded: 120, dead: 2), at: later)
        let next = history.lastHour(now: later)
        #expect(next.last?.succeeded == 9)
        #expect(next.dropLast().allSatisfy { $0.succeeded == 0 && $0.dead == 0 })
        #expect(history.sampleCount == 5)
    }

    @Test func chartsScaleToRoundMaximaAndLabelTheAxes() {
        #expect(Charts.roundedMaximum(0) == 1)
        #expect(Charts.roundedMaximum(3) == 5)
        #expect(Charts.roundedMaximum(11) == 20)
        #expect(Charts.roundedMaximum(500) == 500)
        #expect(Charts.minuteLabel(ThroughputHistory.minute(of: Date(timeIntervalSince1970: 3600 * 5 + 60 * 7))) == "05:07")
        let svg = Charts.perMinute([(minute: 0, count: 0), (minute: 1, count: 4)], label: "dead", cssClass: "dead").text
        #expect(svg.contains("<rect class=\"dead\""))
        #expect(svg.contains("00:01 UTC: 4 dead"))
        #expect(svg.contains(">5</text>") && !svg.contains(">2</text>"), "the y axis tops at 5, with no uneven middle tick")
    }

    @Test func theServerSamplesWhileItRunsAndStopsWithIt() async throws {
        let base = MemoryStorage()
        let storage = RecordingStorage(base)
        let server = makeServer(storage) { $0.dashboardSampleInterval = .milliseconds(5) }
        let services = ServiceGroup(configuration: .init(services: [server], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            var seen = try await storage.statsReads.waitForCount(1).count  // the baseline
            try await store(base, queue: "q", maxAttempts: 1)
            _ = try await makeDead(base, queue: "q")
            // Each sample is booked before the next one is taken: wait for samples until the dead
            // job shows (a few at most; each wait is bounded).
            var dead = 0
            while dead == 0 {
                seen = try await storage.statsReads.waitForCount(seen + 1).count
                dead = server.throughput.lastHour(now: Date()).reduce(0) { $0 + $1.dead }
            }
            #expect(dead == 1)
            // Graceful shutdown ends the server and its sampler: run() returns.
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }
}
