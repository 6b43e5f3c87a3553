import Foundation
import Spool

/// The dashboard's three pages as HTML: pure functions of what storage returned.
enum DashboardViews {
    // MARK: Overview

    /// `/`: counts by state in all and per queue, with pause/resume and "retry all dead" per
    /// queue, and the charts of the last hour.
    static func overview(
        stats: StorageStats, paused: Set<String>, limits: [String: QueueLimits] = [:], history: [ThroughputHistory.Bucket], since: Date?,
        context: PageContext
    ) -> HTML {
        let states = JobState.allCases
        let totals: [HTML] = states.map { state in
            "<td class=\"num\"><a href=\"\(DashboardURL.make("/jobs", [("state", state.rawValue)]))\">\(stats.count(state))</a></td>"
        }
        let header: [HTML] = states.map { "<th class=\"num\">\(badge: $0)</th>" }
        let names = Set(stats.queues.keys).union(paused).union(limits.keys).sorted()
        let rows: [HTML] = names.map { queue in
            let counts: [HTML] = states.map { state in
                let link = DashboardURL.make("/jobs", [("state", state.rawValue), ("queue", queue)])
                return "<td class=\"num\"><a href=\"\(link)\">\(stats.count(state, queue: queue))</a></td>"
            }
            let isPaused = paused.contains(queue)
            let total = stats.queues[queue]?.values.reduce(0, +) ?? 0
            var status: HTML = isPaused ? "<span class=\"badge paused\">paused</span>" : "<span class=\"muted\">running</span>"
            if let limited = limits[queue] {
                status = "\(status) <span class=\"muted limits\">\(limited.description)</span>"
            }
            let toggle = DashboardPage.action(
                isPaused ? "/queues/resume" : "/queues/pause", label: isPaused ? "Resume" : "Pause",
                cssClass: isPaused ? "resume" : "pause", fields: [("queue", queue)], context: context
            )
            let deadCount = stats.count(.dead, queue: queue)
            let retryDead = HTML.when(
                deadCount > 0,
                DashboardPage.action(
                    "/queues/retry-dead", label: "Retry all \(deadCount) dead", cssClass: "retry-dead", fields: [("queue", queue)],
                    context: context
                )
            )
            return """
                <tr><td><a href="\(DashboardURL.make("/jobs", [("queue", queue)]))">\(queue)</a></td>\(counts)<td class="num">\(total)</td><td>\(status)</td><td>\(toggle)\(retryDead)</td></tr>
                """
        }
        let queues: HTML =
            names.isEmpty
            ? "<p class=\"muted\">No queue has jobs yet.</p>"
            : "<table class=\"queues\"><thead><tr><th>Queue</th>\(header)<th class=\"num\">total</th><th>status</th><th>actions</th></tr></thead><tbody>\(rows)</tbody></table>"
        let grandTotal = stats.queues.values.reduce(0) { $0 + $1.values.reduce(0, +) }
        let seen: HTML =
            since.map { "since this server's first sample at \(DashboardPage.time($0, now: context.now))" }
            ?? "no sample yet: the server samples job counts while it runs"
        return """
            <h1>Overview</h1>
            <table class="totals"><thead><tr><th>All queues</th>\(header)<th class="num">total</th></tr></thead>
            <tbody><tr><td>jobs</td>\(totals)<td class="num">\(grandTotal)</td></tr></tbody></table>
            <h2>Queues</h2>\(queues)
            <h2>Last hour</h2>
            <p class="muted">Jobs that succeeded and that went dead per minute, as this server saw the stored counts grow (\(seen)).</p>
            <div class="charts">
            <figure><figcaption>Succeeded</figcaption>\(Charts.perMinute(history.map { ($0.minute, $0.succeeded) }, label: "succeeded", cssClass: "succeeded"))</figure>
            <figure><figcaption>Dead</figcaption>\(Charts.perMinute(history.map { ($0.minute, $0.dead) }, label: "dead", cssClass: "dead"))</figure>
            </div>
            """
    }

    // MARK: Job list

    /// What a job list shows and how it was asked for.
    struct ListQuery: Sendable {
        var state: JobState?
        var queue: String?
        var kind: String?
        /// An id prefix or a piece of the kind.
        var search: String?
        var cursor: JobID?

        /// The list's address with `cursor`, and the state replaced when given.
        func url(state: JobState?? = .none, cursor: JobID? = nil) -> String {
            let shownState = state ?? self.state
            return DashboardURL.make(
                "/jobs",
                [
                    ("state", shownState?.rawValue), ("queue", queue), ("kind", kind), ("q", search), ("cursor", cursor?.description),
                ])
        }
    }

    /// `/jobs`: state tabs, filters and search, one page of jobs newest first, and an "older"
    /// link with the storage cursor.
    static func jobList(
        _ jobs: [JobRecord], next: JobID?, scanned: Int?, query: ListQuery, stats: StorageStats, queues: [String], context: PageContext
    ) -> HTML {
        let all: [JobState?] = [nil] + JobState.allCases.map { $0 }
        let tabs: [HTML] = all.map { state in
            let count = state.map { s in query.queue.map { stats.count(s, queue: $0) } ?? stats.count(s) }
            let label = state?.rawValue ?? "all"
            let current = state == query.state ? " class=\"current\"" : ""
            let suffix = count.map { " (\($0))" } ?? ""
            return "<a href=\"\(query.url(state: .some(state)))\"\(HTML(trusted: current))>\(label)\(suffix)</a>"
        }
        let options: [HTML] = ([""] + queues).map { name in
            let selected = name == (query.queue ?? "") ? " selected" : ""
            return "<option value=\"\(name)\"\(HTML(trusted: selected))>\(name.isEmpty ? "every queue" : name)</option>"
        }
        let filters: HTML = """
            <form method="get" action="\(DashboardURL.make("/jobs"))" class="filters">\(HTML.when(query.state != nil, "<input type=\"hidden\" name=\"state\" value=\"\(query.state?.rawValue ?? "")\">"))
            <select name="queue" aria-label="queue">\(options)</select>
            <input name="kind" placeholder="kind (exact)" value="\(query.kind ?? "")" aria-label="kind">
            <input name="q" type="search" placeholder="id prefix or part of the kind" value="\(query.search ?? "")" aria-label="search">
            <button type="submit">Filter</button> <a href="\(DashboardURL.make("/jobs"))">clear</a></form>
            """
        let rows: [HTML] = jobs.map { job in
            let error: HTML = job.lastError.map { "<span title=\"\($0.message)\">\(shortened($0.message, to: 90))</span>" } ?? .empty
            let when = job.finishedAt ?? (job.state == .scheduled ? job.runAt : job.attemptedAt ?? job.createdAt)
            return """
                <tr><td class="id"><a href="\(DashboardURL.make("/jobs/\(job.id)"))">\(job.id.description)</a></td><td>\(job.kind)</td><td>\(job.queue)</td><td>\(DashboardPage.badge(job.state))</td><td class="num">\(job.priority)</td><td class="num">\(job.attempt)/\(job.maxAttempts)</td><td>\(DashboardPage.time(when, now: context.now))</td><td>\(error)</td></tr>
                """
        }
        let table: HTML =
            jobs.isEmpty
            ? "<p class=\"muted\">No jobs here.</p>"
            : "<table class=\"jobs\"><thead><tr><th>id</th><th>kind</th><th>queue</th><th>state</th><th class=\"num\">priority</th><th class=\"num\">attempt</th><th>last change</th><th>last error</th></tr></thead><tbody>\(rows)</tbody></table>"
        var paging: [HTML] = []
        if query.cursor != nil { paging.append("<a href=\"\(query.url())\">« newest</a>") }
        if let next { paging.append("<a class=\"older\" href=\"\(query.url(cursor: next))\">older »</a>") }
        let searched: HTML = scanned.map { "<p class=\"muted\">Searched \($0) jobs for this page.</p>" } ?? .empty
        let title = query.state.map { "\($0.rawValue.capitalized) jobs" } ?? "Jobs"
        return """
            <h1>\(title)</h1><p class="tabs">\(tabs)</p>\(filters)\(searched)\(table)<p class="paging">\(HTML.join(paging, separator: " · "))</p>
            """
    }

    // MARK: Job

    /// `/jobs/{id}`: every field, the payload and result as indented JSON, the error of each
    /// failed attempt, and the actions the job's state allows.
    static func job(_ job: JobRecord, context: PageContext) -> HTML {
        var actions: [HTML] = []
        if job.state == .dead || job.state == .cancelled {
            actions.append(DashboardPage.action("/jobs/\(job.id)/retry", label: "Retry", cssClass: "retry", context: context))
        }
        if job.state.isLive {
            actions.append(DashboardPage.action("/jobs/\(job.id)/cancel", label: "Cancel", cssClass: "cancel", context: context))
        }
        actions.append(
            DashboardPage.action(
                "/jobs/\(job.id)/delete", label: "Delete", cssClass: "delete", back: DashboardURL.make("/jobs", [("queue", job.queue)]),
                context: context
            ))
        let none: HTML = "<span class=\"muted\">–</span>"
        let progress: HTML =
            job.progress.map { progress -> HTML in
                let percent = Int((progress.fraction * 100).rounded())
                return "<progress max=\"100\" value=\"\(percent)\">\(percent) %</progress> \(percent) % \(progress.message ?? "")"
            } ?? none
        let lease: HTML =
            job.leaseOwner.map { owner -> HTML in "\(owner), until \(DashboardPage.time(job.leaseExpiresAt, now: context.now))" } ?? none
        let uniqueKey: HTML = job.uniqueKey.map { key -> HTML in "<span class=\"mono\">\(key)</span>" } ?? none
        let timeout: HTML = job.timeout.map { timeout -> HTML in "\(timeout.seconds) s" } ?? none
        var fields: [(String, HTML)] = [
            ("id", "<span class=\"mono\">\(job.id.description)</span>"),
            ("kind", "\(job.kind)"),
            ("queue", "<a href=\"\(DashboardURL.make("/jobs", [("queue", job.queue)]))\">\(job.queue)</a>"),
            ("state", DashboardPage.badge(job.state)),
            ("priority", "\(job.priority)"),
            ("attempt", "\(job.attempt) of \(job.maxAttempts)"),
            ("created", DashboardPage.time(job.createdAt, now: context.now)),
            ("run at", DashboardPage.time(job.runAt, now: context.now)),
            ("last attempt", DashboardPage.time(job.attemptedAt, now: context.now)),
            ("finished", DashboardPage.time(job.finishedAt, now: context.now)),
            ("lease", lease),
            ("progress", progress),
            ("unique key", uniqueKey),
            ("timeout", timeout),
        ]
        if let batch = job.batch {
            fields.append(("batch", "<a class=\"mono\" href=\"\(DashboardURL.make("/batches/\(batch)"))\">\(batch.description)</a>"))
        }
        if !job.dependencies.isEmpty {
            let links: [HTML] = job.dependencies.map {
                "<a class=\"mono\" href=\"\(DashboardURL.make("/jobs/\($0)"))\">\($0.description)</a>"
            }
            let failure = job.dependencyFailure == .run ? " (runs anyway if one fails)" : ""
            fields.append(("depends on", "\(HTML.join(links, separator: ", "))\(failure)"))
        }
        for (key, value) in job.metadata.sorted(by: { $0.key < $1.key }) {
            fields.append(("metadata \(key)", "<span class=\"mono\">\(value)</span>"))
        }
        let list: [HTML] = fields.map { "<dt>\($0.0)</dt><dd>\($0.1)</dd>" }
        let errors: [HTML] = job.errors.reversed().map { error in
            "<tr><td class=\"num\">\(error.attempt)</td><td>\(DashboardPage.time(error.at, now: context.now))</td><td>\(error.reason)</td><td><pre>\(error.message)</pre></td></tr>"
        }
        let errorTable: HTML =
            errors.isEmpty
            ? "<p class=\"muted\">No failed attempt.</p>"
            : "<table class=\"errors\"><thead><tr><th class=\"num\">attempt</th><th>at</th><th>reason</th><th>message</th></tr></thead><tbody>\(errors)</tbody></table>"
        let result: HTML = job.result.map { "<pre class=\"result\">\(prettyJSON($0))</pre>" } ?? "<p class=\"muted\">No result.</p>"
        let payload = (try? job.payload.encoded()).map(prettyJSON) ?? "(the payload could not be encoded)"
        return """
            <h1>Job <span class="mono">\(job.id.description)</span> \(DashboardPage.badge(job.state))</h1>
            <p class="actions">\(actions)</p>
            <dl class="fields">\(list)</dl>
            <h2>Payload</h2><pre class="payload">\(payload)</pre>
            <h2>Result</h2>\(result)
            <h2>Errors</h2>\(errorTable)
            """
    }

    /// JSON bytes indented for reading; other bytes as their text (or a byte count).
    static func prettyJSON(_ bytes: [UInt8]) -> String {
        if let value = try? JSONParser.parse(bytes) { return value.pretty }
        return String(validating: bytes, as: UTF8.self) ?? "<\(bytes.count) bytes>"
    }

    /// `text` cut to `limit` characters with an ellipsis.
    static func shortened(_ text: String, to limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }
}

extension HTML.Interpolation {
    /// A state's badge.
    mutating func appendInterpolation(badge state: JobState) {
        appendInterpolation(DashboardPage.badge(state))
    }
}
