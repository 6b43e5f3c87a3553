import Foundation
import Hummingbird
import Spool

/// The batch routes of the API (``SpoolServer``), over a storage that keeps batches
/// (``Spool/JobBatching``); on one that does not, creating a batch is a 422 naming the field and
/// there is nothing to read (404, an empty list).
///
/// - `POST /v1/batches` `{"jobs": [...], "on_success"?, "on_complete"?, "on_dead"?}`: 202
///   `{"id", "jobs": [{"id", "state", "existing"}]}`. Each job and callback is a job of
///   `POST /v1/jobs`; jobs may depend on one another by `depends_on` ids only if those are
///   stored, so a batch's internal chain is built from jobs enqueued earlier or by their order
///   in a later call.
/// - `GET /v1/batches?cursor=&limit=`: newest first.
/// - `GET /v1/batches/{id}`: `{"id", "state", "total", "counts", "created_at", "finished_at",
///   "cancelled_at", "callbacks"}`.
/// - `POST /v1/batches/{id}/cancel`: 200 `{"cancelled": [ids]}`.
struct BatchRoutes: Sendable {
    let routes: APIRoutes

    static let callbackFields = ["on_success", "on_complete", "on_dead"]

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.post("/v1/batches") { request, _ in try await self.create(request) }
        router.get("/v1/batches") { request, _ in try await self.list(request) }
        router.get("/v1/batches/:id") { _, context in try await self.show(try PathParameter.decoded(context.parameters, "id")) }
        router.post("/v1/batches/:id/cancel") { _, context in
            try await self.cancel(try PathParameter.decoded(context.parameters, "id"))
        }
    }

    var batching: (any JobBatching)? { routes.storage as? any JobBatching }

    func create(_ request: Request) async throws -> Response {
        let traceContext = try TraceContext.headers(request)
        let body = try await routes.readJSON(request)
        let fields = try FieldReader(body, known: ["jobs"] + Self.callbackFields)
        guard let list = try fields.field("jobs") else { throw Problem.invalidField("jobs", "is required: an array of jobs") }
        guard case .array(let items) = list else { throw Problem.invalidField("jobs", "must be an array (got \(list.typeName))") }
        guard !items.isEmpty else { throw Problem.invalidField("jobs", "must hold at least one job") }
        guard items.count <= routes.maximumBatchSize else {
            throw Problem.invalidField("jobs", "holds \(items.count) jobs; at most \(routes.maximumBatchSize) per request")
        }
        let now = routes.clock.now
        let jobs = try items.enumerated().map { index, item in
            let path = "jobs[\(index)]."
            var job = try routes.checked(EnqueueRequest(json: item, path: path), path: path).newJob(registry: routes.registry, now: now)
            TraceContext.apply(traceContext, to: &job)
            return job
        }
        var callbacks = BatchCallbacks()
        for name in Self.callbackFields {
            guard let value = try fields.field(name) else { continue }
            let job = try routes.checked(EnqueueRequest(json: value, path: name + "."), path: name + ".").newJob(
                registry: routes.registry, now: now)
            switch name {
            case "on_success": callbacks.onSuccess = job
            case "on_complete": callbacks.onComplete = job
            default: callbacks.onDead = job
            }
        }
        let batch = try await routes.client.enqueueBatch(jobs, callbacks: callbacks, whenFull: .fail)
        let entries = batch.jobs.map { APIJSON.enqueued(EnqueueResult(id: $0.id, state: $0.initialState, existing: $0.existing)) }
        return APIRoutes.respond(.object([("id", .string(batch.id.description)), ("jobs", .array(entries))]), status: .accepted)
    }

    func list(_ request: Request) async throws -> Response {
        let parameters = request.uri.queryParameters
        let limit = try APIRoutes.pageLimit(parameters["limit"].map(String.init))
        var cursor: BatchID?
        if let text = parameters["cursor"].map(String.init), !text.isEmpty {
            guard let id = BatchID(text) else { throw Problem.invalidParameter("cursor", "must be a batch id (got '\(text)')") }
            cursor = id
        }
        guard let batching else { return APIRoutes.respond(.object([("batches", .array([])), ("next_cursor", .null)])) }
        let page = try await batching.batches(after: cursor, limit: limit)
        return APIRoutes.respond(
            .object([
                ("batches", .array(page.batches.map(APIJSON.batch))), ("next_cursor", .string(page.nextCursor?.description)),
            ]))
    }

    func show(_ text: String) async throws -> Response {
        let id = try batchID(text)
        guard let record = try await batching?.batch(id) else { throw Problem.batchNotFound(text) }
        return APIRoutes.respond(APIJSON.batch(record))
    }

    func cancel(_ text: String) async throws -> Response {
        let id = try batchID(text)
        guard let cancelled = try await batching?.cancelBatch(id, now: routes.clock.now) else { throw Problem.batchNotFound(text) }
        return APIRoutes.respond(.object([("cancelled", .array(cancelled.map { .string($0.description) }))]))
    }

    func batchID(_ text: String) throws -> BatchID {
        guard let id = BatchID(text) else { throw Problem.invalidPathParameter("id", detail: "must be a batch id (got '\(text)')") }
        return id
    }
}
