import Foundation
import Hummingbird
import Spool

/// The dashboard's batch pages, over a storage that keeps batches (``Spool/JobBatching``):
///
/// - `GET /batches?cursor=`: batches newest first, with a progress bar each.
/// - `GET /batches/{id}`: one batch: its state, progress, counts by state, callbacks (linked
///   once fired), and its jobs, page by page.
/// - `POST /batches/{id}/cancel`: cancels what has not finished (admin only, form token).
///
/// On a storage without batches the list says so. Cost: a list is one read of a page of
/// batches; a batch page one read of the batch and one of a page of its jobs.
extension DashboardRoutes {
    func registerBatches<Context: RequestContext>(on router: Router<Context>) {
        router.get("/batches") { request, _ in try await self.page(request) { try await self.batchList(request, $0) } }
        router.get("/batches/:id") { request, context in
            let id = try PathParameter.decoded(context.parameters, "id")
            return try await self.page(request) { try await self.batchPage(id, request, $0) }
        }
        router.post("/batches/:id/cancel") { request, context in
            let text = try PathParameter.decoded(context.parameters, "id")
            return try await self.act(request, fallback: "/batches/\(text)") { _ in
                guard let id = BatchID(text), let cancelled = try await (storage as? any JobBatching)?.cancelBatch(id, now: clock.now)
                else {
                    throw Problem.batchNotFound(text)
                }
                return cancelled.isEmpty
                    ? "Nothing to cancel: every job of the batch had finished." : "Cancelled \(cancelled.count) job(s)."
            }
        }
    }

    func batchList(_ request: Request, _ context: PageContext) async throws -> Response {
        guard let batching = storage as? any JobBatching else {
            let body: HTML = "<h1>Batches</h1><p class=\"muted\">This store does not keep batches yet.</p>"
            return DashboardPage.response(title: "Batches", body: body, refresh: false, context: context)
        }
        let fields = FormFields(request.uri.query ?? "")
        var cursor: BatchID?
        if let text = fields["cursor"] {
            guard let id = BatchID(text) else { throw Problem.invalidParameter("cursor", "must be a batch id (got '\(text)')") }
            cursor = id
        }
        let page = try await batching.batches(after: cursor, limit: Self.pageSize)
        let rows: [HTML] = page.batches.map { batch in
            let link = DashboardURL.make("/batches/\(batch.id)")
            return
                "<tr><td class=\"id\"><a href=\"\(link)\">\(batch.id.description)</a></td><td>\(Self.batchBadge(batch.state))</td><td>\(Self.progress(batch))</td><td class=\"num\">\(batch.total)</td><td>\(DashboardPage.time(batch.createdAt, now: context.now))</td></tr>"
        }
        let table: HTML =
            rows.isEmpty
            ? "<p class=\"muted\">No batch yet.</p>"
            : "<table><thead><tr><th>id</th><th>state</th><th>progress</th><th class=\"num\">jobs</th><th>created</th></tr></thead><tbody>\(rows)</tbody></table>"
        let older: HTML =
            page.nextCursor.map {
                "<p class=\"paging\"><a href=\"\(DashboardURL.make("/batches", [("cursor", $0.description)]))\">older »</a></p>"
            } ?? .empty
        return DashboardPage.response(title: "Batches", body: "<h1>Batches</h1>\(table)\(older)", refresh: cursor == nil, context: context)
    }

    func batchPage(_ text: String, _ request: Request, _ context: PageContext) async throws -> Response {
        guard let id = BatchID(text), let batching = storage as? any JobBatching, let batch = try await batching.batch(id) else {
            throw Problem.batchNotFound(text)
        }
        let fields = FormFields(request.uri.query ?? "")
        let cursor = fields["cursor"].flatMap(JobID.init)
        let jobs = try await batching.jobs(inBatch: id, after: cursor, limit: Self.pageSize)
        let counts: [HTML] = JobState.allCases.filter { batch.count($0) > 0 }.map { state in
            "<li>\(DashboardPage.badge(state)) \(batch.count(state))</li>"
        }
        let callbacks: [HTML] = BatchEvent.allCases.filter(batch.callbackEvents.contains).map { event in
            let fired: HTML =
                batch.callbackJobs[event].map { "<a class=\"mono\" href=\"\(DashboardURL.make("/jobs/\($0)"))\">\($0.description)</a>" }
                ?? "<span class=\"muted\">not fired</span>"
            return "<dt>on_\(event.rawValue)</dt><dd>\(fired)</dd>"
        }
        let rows: [HTML] = jobs.jobs.map { job in
            "<tr><td class=\"id\"><a href=\"\(DashboardURL.make("/jobs/\(job.id)"))\">\(job.id.description)</a></td><td>\(job.kind)</td><td>\(DashboardPage.badge(job.state))</td><td class=\"num\">\(job.attempt)/\(job.maxAttempts)</td></tr>"
        }
        let more: HTML =
            jobs.nextCursor.map {
                "<p class=\"paging\"><a href=\"\(DashboardURL.make("/batches/\(id)", [("cursor", $0.description)]))\">more »</a></p>"
            }
            ?? .empty
        let cancel =
            batch.state == .running
            ? DashboardPage.action("/batches/\(id)/cancel", label: "Cancel", cssClass: "cancel", context: context) : .empty
        let body: HTML = """
            <h1>Batch <span class="mono">\(id.description)</span> \(Self.batchBadge(batch.state))</h1>
            <p class="actions">\(cancel)</p>
            <p>\(Self.progress(batch)) \(Self.finished(batch)) of \(batch.total) jobs finished</p>
            <ul class="counts">\(counts)</ul>
            <dl class="fields"><dt>created</dt><dd>\(DashboardPage.time(batch.createdAt, now: context.now))</dd><dt>finished</dt><dd>\(DashboardPage.time(batch.finishedAt, now: context.now))</dd>\(callbacks)</dl>
            <h2>Jobs</h2><table><thead><tr><th>id</th><th>kind</th><th>state</th><th class="num">attempt</th></tr></thead><tbody>\(rows)</tbody></table>\(more)
            """
        return DashboardPage.response(title: "Batch \(id)", body: body, refresh: batch.state == .running, context: context)
    }

    /// The batch's jobs in a final state.
    static func finished(_ batch: BatchRecord) -> Int {
        JobState.allCases.filter(\.isFinished).reduce(0) { $0 + batch.count($1) }
    }

    /// A progress bar of the finished share of the batch's jobs.
    static func progress(_ batch: BatchRecord) -> HTML {
        let total = max(1, batch.total)
        let percent = min(100, Int((Double(finished(batch)) * 100 / Double(total)).rounded(.down)))
        return "<progress max=\"100\" value=\"\(percent)\">\(percent) %</progress>"
    }

    /// A batch state as a badge (coloured like the job states it resembles).
    static func batchBadge(_ state: BatchState) -> HTML {
        let look: String
        switch state {
        case .running: look = "running"
        case .succeeded: look = "succeeded"
        case .completed: look = "dead"
        case .cancelled: look = "cancelled"
        }
        return "<span class=\"badge \(look)\">\(state.rawValue)</span>"
    }
}
