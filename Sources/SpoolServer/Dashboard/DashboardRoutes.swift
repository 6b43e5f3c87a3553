import Foundation
import Hummingbird
import NIOCore
import Spool

/// The dashboard: server-rendered HTML at `/`, usable without a build step or JavaScript.
///
/// - `GET /`: counts by state per queue, pause/resume and "retry all dead" per queue, and
///   charts of the last hour (``ThroughputHistory``).
/// - `GET /jobs?state=&queue=&kind=&q=&cursor=`: jobs newest first, by state, with filters; `q`
///   finds an id by prefix or a kind by substring.
/// - `GET /jobs/{id}`: one job in full.
/// - `POST /jobs/{id}/retry|cancel|delete`, `POST /queues/pause|resume|retry-dead` (the queue in
///   the form's `queue` field): act, then answer 303 back to the page the form came from, with
///   what happened in a `notice`.
///
/// Every POST must carry the per-process form token (`csrf`), which only pages of this server
/// hold: a form posted from another site is refused with 403, and so is a form from before a
/// restart (reloading the page fixes it). Tokens work as for the API, plus a cookie for browsers
/// (see ``AuthMiddleware``): the read-only token may look but not act.
///
/// Cost: a page is one or two storage reads (`stats` and a page of jobs); a search reads pages
/// of 200 until it has a page of matches or has read ``searchBudget`` jobs; "retry all dead"
/// reads and retries 500 dead jobs per round trip until none is left.
struct DashboardRoutes: Sendable {
    let storage: any JobStorage
    let clock: any JobClock
    let history: ThroughputHistory
    let formToken: String
    let bodyLimit: Int
    /// What a request may do (the auth middleware's rules).
    let access: @Sendable (Request) throws -> Access

    /// Jobs per page of a list.
    static let pageSize = 50
    /// The most jobs one search request reads.
    static let searchBudget = 5000

    /// True for the dashboard's paths: the ones where browsers may send the token as a cookie.
    static func isDashboardPath(_ path: String) -> Bool {
        path == "/" || path == "/jobs" || path.hasPrefix("/jobs/") || path.hasPrefix("/queues/") || path == "/batches"
            || path.hasPrefix("/batches/")
    }

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/") { request, _ in try await self.page(request) { try await self.overview($0) } }
        router.get("/jobs") { request, _ in try await self.page(request) { try await self.jobList(request, $0) } }
        router.get("/jobs/:id") { request, context in
            try await self.page(request) { try await self.jobPage(try PathParameter.decoded(context.parameters, "id"), $0) }
        }
        for action in ["retry", "cancel", "delete"] {
            router.post("/jobs/:id/\(action)") { request, context in
                let id = try PathParameter.decoded(context.parameters, "id")
                return try await self.act(request, fallback: "/jobs/\(id)") { _ in try await self.jobAction(action, id: id) }
            }
        }
        registerBatches(on: router)
        for action in ["pause", "resume", "retry-dead"] {
            router.post("/queues/\(action)") { request, _ in
                try await self.act(request, fallback: "/") { form in
                    guard let sent = form["queue"] else { throw Problem.badRequest("the form needs a queue name") }
                    let queue: String
                    do {
                        queue = try JobInput.name(sent, field: "queue")
                    } catch let error as SpoolError {
                        throw Problem.badRequest(error.message)
                    }
                    return try await self.queueAction(action, queue: queue)
                }
            }
        }
    }

    // MARK: Pages

    /// Renders a page, answering problems (an unknown job, a failing store) as HTML pages.
    func page(_ request: Request, _ render: (PageContext) async throws -> Response) async throws -> Response {
        do {
            let context = PageContext(
                access: try access(request), formToken: formToken,
                location: DashboardURL.make(request.uri.path) + (request.uri.query.map { "?" + $0 } ?? ""),
                notice: FormFields(request.uri.query ?? "")["notice"], now: clock.now
            )
            return try await render(context)
        } catch let problem as Problem {
            return DashboardPage.problem(problem)
        } catch let error as SpoolError {
            return DashboardPage.problem(Problem.from(error, retryAfter: 1))
        }
    }

    func overview(_ context: PageContext) async throws -> Response {
        let stats = try await storage.stats()
        let paused = try await storage.pausedQueues()
        let limits = try await storage.queueLimits()
        let body = DashboardViews.overview(
            stats: stats, paused: paused, limits: limits, history: history.lastHour(now: context.now), since: history.since,
            context: context
        )
        return DashboardPage.response(title: "Overview", body: body, refresh: true, context: context)
    }

    func jobList(_ request: Request, _ context: PageContext) async throws -> Response {
        let fields = FormFields(request.uri.query ?? "")
        var query = DashboardViews.ListQuery(queue: fields["queue"], kind: fields["kind"], search: fields["q"])
        if let text = fields["state"] {
            guard let state = JobState(rawValue: text) else {
                throw Problem.invalidParameter(
                    "state", "must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(text)')")
            }
            query.state = state
        }
        if let text = fields["cursor"] {
            guard let cursor = JobID(text) else { throw Problem.invalidParameter("cursor", "must be a job id (got '\(text)')") }
            query.cursor = cursor
        }
        let filter = JobFilter(states: query.state.map { [$0] }, queue: query.queue, kind: query.kind)
        let found = try await find(filter, search: query.search, after: query.cursor)
        let stats = try await storage.stats()
        let queues = Set(stats.queues.keys).union(try await storage.pausedQueues()).sorted()
        let body = DashboardViews.jobList(
            found.jobs, next: found.next, scanned: found.scanned, query: query, stats: stats, queues: queues, context: context
        )
        // Paging back through history is not refreshed under the reader's eyes.
        return DashboardPage.response(title: "Jobs", body: body, refresh: query.cursor == nil, context: context)
    }

    func jobPage(_ text: String, _ context: PageContext) async throws -> Response {
        guard let id = JobID(text), let job = try await storage.job(id) else { throw Problem.jobNotFound(text) }
        // A finished job does not change by itself: only live ones refresh.
        return DashboardPage.response(
            title: "Job \(job.id)", body: DashboardViews.job(job, context: context), refresh: job.state.isLive, context: context
        )
    }

    /// One page of jobs passing `filter` after the cursor. With a search, jobs are read page by
    /// page and matched here (the storage protocol has no text search): a full id is looked up
    /// at once; otherwise an id prefix or a piece of the kind, case-insensitive, within
    /// ``searchBudget`` jobs (`scanned` says how many were read, and `next` continues).
    func find(_ filter: JobFilter, search: String?, after cursor: JobID?) async throws -> (jobs: [JobRecord], next: JobID?, scanned: Int?) {
        guard let search else {
            let page = try await storage.jobs(filter, after: cursor, limit: Self.pageSize)
            return (page.jobs, page.nextCursor, nil)
        }
        if let id = JobID(search) {
            let job = try await storage.job(id).flatMap { filter.matches(state: $0.state, queue: $0.queue, kind: $0.kind) ? $0 : nil }
            return (job.map { [$0] } ?? [], nil, 1)
        }
        let prefix = search.uppercased()
        let piece = search.lowercased()
        var matches: [JobRecord] = []
        var after = cursor
        var scanned = 0
        while scanned < Self.searchBudget {
            let page = try await storage.jobs(filter, after: after, limit: 200)
            for job in page.jobs {
                scanned += 1
                after = job.id
                if job.id.description.hasPrefix(prefix) || job.kind.lowercased().contains(piece) {
                    matches.append(job)
                    if matches.count == Self.pageSize { return (matches, after, scanned) }
                }
            }
            if page.nextCursor == nil { return (matches, nil, scanned) }
        }
        return (matches, after, scanned)
    }

    // MARK: Actions

    /// Checks the form token, performs `perform`, and answers 303 back (to the form's `back`
    /// when it is a path of this site, else `fallback`) with what happened as the `notice`.
    func act(_ request: Request, fallback: String, _ perform: (FormFields) async throws -> String) async throws -> Response {
        do {
            if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > bodyLimit {
                throw Problem.tooLarge(limit: bodyLimit)
            }
            let body = try await request.body.collect(upTo: bodyLimit)
            let form = FormFields(String(decoding: body.readableBytesView, as: UTF8.self))
            guard let sent = form["csrf"], AuthMiddleware<BasicRequestContext>.constantTimeEquals(sent, formToken) else {
                throw Problem.forbidden(
                    "the form did not come from this server's current pages (it is from before a restart, or from another site): reload the page and try again"
                )
            }
            let notice = try await perform(form)
            let back = form["back"].flatMap { DashboardURL.isLocal($0) ? $0 : nil } ?? DashboardURL.make(fallback)
            return Response.redirect(to: Self.adding(notice: notice, to: back), type: .normal)
        } catch let problem as Problem {
            return DashboardPage.problem(problem)
        } catch let error as SpoolError {
            return DashboardPage.problem(Problem.from(error, retryAfter: 1))
        }
    }

    /// Retries, cancels or deletes one job; says what happened, or why nothing did.
    func jobAction(_ action: String, id text: String) async throws -> String {
        guard let id = JobID(text) else { throw Problem.jobNotFound(text) }
        let now = clock.now
        switch action {
        case "retry":
            if try await storage.retry([id], now: now).contains(id) { return "Job \(id) was retried: it is available again." }
        case "cancel":
            if try await storage.cancel([id], now: now).contains(id) { return "Job \(id) was cancelled." }
        default:
            if try await storage.delete([id]).contains(id) { return "Job \(id) was deleted." }
            throw Problem.jobNotFound(text)
        }
        guard let job = try await storage.job(id) else { throw Problem.jobNotFound(text) }
        let allowed = action == "retry" ? "dead or cancelled" : "scheduled, available or running"
        return
            "Job \(id) is \(job.state.rawValue): only \(allowed) jobs can be \(action == "retry" ? "retried" : "cancelled"). Nothing changed."
    }

    /// Pauses or resumes a queue, or retries every dead job in it; says what happened.
    func queueAction(_ action: String, queue: String) async throws -> String {
        switch action {
        case "pause":
            try await storage.setPaused(true, queue: queue)
            return "Queue \(queue) is paused: it keeps accepting jobs but hands none out."
        case "resume":
            try await storage.setPaused(false, queue: queue)
            return "Queue \(queue) is resumed."
        default:
            let count = try await retryAllDead(queue: queue)
            return "Retried \(count) dead job\(count == 1 ? "" : "s") of queue \(queue)."
        }
    }

    /// Retries every dead job of `queue`, 500 per round trip; returns how many were retried.
    /// Jobs that die while it runs may be retried too, or not.
    func retryAllDead(queue: String) async throws -> Int {
        let filter = JobFilter(states: [.dead], queue: queue)
        var cursor: JobID?
        var retried = 0
        repeat {
            let page = try await storage.jobs(filter, after: cursor, limit: 500)
            if !page.jobs.isEmpty {
                retried += try await storage.retry(page.jobs.map(\.id), now: clock.now).count
            }
            cursor = page.nextCursor
        } while cursor != nil
        return retried
    }

    /// `target` with its `notice` parameter replaced by `notice`.
    static func adding(notice: String, to target: String) -> String {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let kept = parts.count > 1 ? FormFields(String(parts[1])).pairs.filter { $0.0 != "notice" } : []
        return DashboardURL.adding(kept.map { ($0.0, $0.1) } + [("notice", notice)], to: String(parts[0]))
    }
}
