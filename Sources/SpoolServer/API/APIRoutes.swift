import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus
import Spool

/// The handlers of the HTTP API: each reads a request, calls storage, and answers JSON or a
/// ``Problem``.
struct APIRoutes: Sendable {
    let storage: any JobStorage
    let client: SpoolClient
    let registry: JobRegistry
    let clock: any JobClock
    let bodyLimit: Int
    let retryAfter: Int
    let maximumBatchSize: Int
    let validatePayload: (@Sendable (_ kind: String, _ payload: [UInt8]) throws -> Void)?
    let metricsRegistry: PrometheusCollectorRegistry
    let gauges: QueueDepthGauges

    /// The default and largest page sizes of `GET /v1/jobs`.
    static let defaultPageSize = 50
    static let maximumPageSize = 500

    /// Adds every route to `router`.
    func register<Context: RequestContext>(on router: Router<Context>) {
        router.post("/v1/jobs") { request, _ in try await self.enqueue(request) }
        router.post("/v1/jobs/batch") { request, _ in try await self.enqueueBatch(request) }
        router.get("/v1/jobs") { request, _ in try await self.list(request) }
        // Path parameters arrive percent-encoded: decode them (and check queue names) first.
        router.get("/v1/jobs/:id") { _, context in try await self.show(try PathParameter.decoded(context.parameters, "id")) }
        router.post("/v1/jobs/:id/retry") { _, context in try await self.retry(try PathParameter.decoded(context.parameters, "id")) }
        router.post("/v1/jobs/:id/cancel") { _, context in try await self.cancel(try PathParameter.decoded(context.parameters, "id")) }
        router.delete("/v1/jobs/:id") { _, context in try await self.delete(try PathParameter.decoded(context.parameters, "id")) }
        router.get("/v1/queues") { _, _ in try await self.queues() }
        router.post("/v1/queues/:name/pause") { _, context in
            try await self.setPaused(true, queue: try PathParameter.queueName(context.parameters))
        }
        router.post("/v1/queues/:name/resume") { _, context in
            try await self.setPaused(false, queue: try PathParameter.queueName(context.parameters))
        }
        router.put("/v1/queues/:name/limits") { request, context in
            try await self.setLimits(request, queue: try PathParameter.queueName(context.parameters))
        }
        router.get("/v1/stats") { _, _ in try await self.stats() }
        router.get("/healthz") { _, _ in try await self.health() }
        router.get("/metrics") { _, _ in try await self.metrics() }
        router.get("/openapi.json") { _, _ in
            Self.respond(.raw(OpenAPIDocument.json), contentType: "application/json")
        }
    }

    // MARK: Reading and answering

    /// A JSON response.
    static func respond(_ value: JSONValue, status: HTTPResponse.Status = .ok, contentType: String = "application/json") -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.bytes)))
    }

    /// The body as JSON, refused with 413 past the limit and 400 when malformed.
    func readJSON(_ request: Request) async throws -> JSONValue {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > bodyLimit {
            throw Problem.tooLarge(limit: bodyLimit)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: bodyLimit)
        } catch is NIOTooManyBytesError {
            throw Problem.tooLarge(limit: bodyLimit)
        }
        let bytes = Array(buffer.readableBytesView)
        guard !bytes.isEmpty else { throw Problem.badRequest("the request body is empty: send a JSON object") }
        do throws(JSONSyntaxError) {
            return try JSONParser.parse(bytes)
        } catch {
            if let member = error.duplicateMember {
                throw Problem.invalidField(member, "appears twice")
            }
            throw Problem.malformedJSON(error)
        }
    }

    /// The id in a path; an id that is not one cannot name a job, so it is a 404.
    func jobID(_ text: String) throws -> JobID {
        guard let id = JobID(text) else { throw Problem.jobNotFound(text) }
        return id
    }

    /// `job`, once its payload passed ``SpoolServer/Configuration/validatePayload``.
    func checked(_ job: EnqueueRequest, path: String = "") throws -> EnqueueRequest {
        guard let validatePayload else { return job }
        do {
            try validatePayload(job.kind, job.payload)
        } catch {
            throw Problem.invalidField(path + "payload", "does not fit kind '\(job.kind)': \(error)")
        }
        return job
    }

    // MARK: Jobs

    /// `POST /v1/jobs`: 202 `{"id", "state"}`, or 409 naming the live job holding the unique key.
    /// A `traceparent` header (and `tracestate`) becomes the job's trace context unless its
    /// `metadata` has one.
    func enqueue(_ request: Request) async throws -> Response {
        let traceContext = try TraceContext.headers(request)
        var job = try checked(EnqueueRequest(json: try await readJSON(request))).newJob(registry: registry, now: clock.now)
        TraceContext.apply(traceContext, to: &job)
        let handle = try await client.enqueue([job], whenFull: .fail)[0]
        if handle.existing {
            throw Problem(
                status: .conflict, slug: "unique-key-conflict", title: "A live job already holds this unique key",
                detail:
                    "job \(handle.id) (\(handle.initialState.rawValue)) already holds unique key '\(job.uniqueKey ?? "")'; nothing was stored",
                extra: [("id", .string(handle.id.description)), ("state", .string(handle.initialState.rawValue))]
            )
        }
        return Self.respond(
            .object([("id", .string(handle.id.description)), ("state", .string(handle.initialState.rawValue))]), status: .accepted)
    }

    /// `POST /v1/jobs/batch` `{"jobs": [...]}`: 202 with one `{"id", "state", "existing"}` per
    /// job, in order. Every job is checked before any is stored; a bad one refuses the batch.
    /// A `traceparent` header applies to every job without one in its `metadata`.
    func enqueueBatch(_ request: Request) async throws -> Response {
        let traceContext = try TraceContext.headers(request)
        let body = try await readJSON(request)
        guard case .object(let members) = body else {
            throw Problem.badRequest("the request body must be a JSON object {\"jobs\": [...]} (got \(body.typeName))")
        }
        if let unknown = members.first(where: { $0.0 != "jobs" }) {
            throw Problem.invalidField(unknown.0, "is not a known field (the batch body is {\"jobs\": [...]})")
        }
        guard let list = body["jobs"] else { throw Problem.invalidField("jobs", "is required: an array of jobs") }
        guard case .array(let items) = list else { throw Problem.invalidField("jobs", "must be an array (got \(list.typeName))") }
        guard !items.isEmpty else { throw Problem.invalidField("jobs", "must hold at least one job") }
        guard items.count <= maximumBatchSize else {
            throw Problem.invalidField("jobs", "holds \(items.count) jobs; at most \(maximumBatchSize) per batch")
        }
        let now = clock.now
        let jobs = try items.enumerated().map { index, item in
            var job = try checked(EnqueueRequest(json: item, path: "jobs[\(index)]."), path: "jobs[\(index)].").newJob(
                registry: registry, now: now)
            TraceContext.apply(traceContext, to: &job)
            return job
        }
        do {
            let handles = try await client.enqueue(jobs, whenFull: .fail)
            let entries = handles.map {
                APIJSON.enqueued(EnqueueResult(id: $0.id, state: $0.initialState, existing: $0.existing))
            }
            return Self.respond(.object([("jobs", .array(entries))]), status: .accepted)
        } catch let error as SpoolError where error.code == .queueFull {
            // A bounded store may have kept the jobs before the full queue: say which, so a
            // client resends only the others.
            var stored: [JSONValue] = []
            for (index, job) in jobs.enumerated() {
                if let record = try await storage.job(job.id) {
                    stored.append(
                        .object([("index", .int(index)), ("id", .string(job.id.description)), ("state", .string(record.state.rawValue))]))
                }
            }
            throw Problem.queueFull(
                error.message + " (\(stored.count) of \(jobs.count) jobs of the batch were stored; see 'stored')",
                retryAfter: retryAfter, extra: [("stored", .array(stored))]
            )
        }
    }

    /// `GET /v1/jobs/{id}`.
    func show(_ text: String) async throws -> Response {
        guard let record = try await storage.job(try jobID(text)) else { throw Problem.jobNotFound(text) }
        return Self.respond(APIJSON.job(record))
    }

    /// `GET /v1/jobs?state=&queue=&kind=&cursor=&limit=`: newest first, with `next_cursor`.
    func list(_ request: Request) async throws -> Response {
        let parameters = request.uri.queryParameters
        func query(_ name: Substring) -> String? { parameters[name].map(String.init) }
        var states: Set<JobState>?
        if let text = query("state"), !text.isEmpty {
            var wanted = Set<JobState>()
            for name in text.split(separator: ",", omittingEmptySubsequences: false) {
                guard let state = JobState(rawValue: String(name)) else {
                    throw Problem.invalidParameter(
                        "state",
                        "must be one or more of \(JobState.allCases.map(\.rawValue).joined(separator: ", ")), comma-separated (got '\(name)')"
                    )
                }
                wanted.insert(state)
            }
            states = wanted
        }
        // JobFilter normalises the names to NFC, as they are stored.
        let filter = JobFilter(
            states: states, queue: query("queue").flatMap { $0.isEmpty ? nil : $0 }, kind: query("kind").flatMap { $0.isEmpty ? nil : $0 }
        )
        var cursor: JobID?
        if let text = query("cursor"), !text.isEmpty {
            guard let id = JobID(text) else {
                throw Problem.invalidParameter("cursor", "must be the next_cursor of a previous page (got '\(text)')")
            }
            cursor = id
        }
        let limit = try Self.pageLimit(query("limit"))
        let page = try await storage.jobs(filter, after: cursor, limit: limit)
        return Self.respond(
            .object([
                ("jobs", .array(page.jobs.map(APIJSON.jobSummary))),
                ("next_cursor", .string(page.nextCursor?.description)),
            ]))
    }

    /// A page size from the `limit` parameter: ``defaultPageSize`` when absent, else 1 to
    /// ``maximumPageSize``.
    /// - Throws: ``Problem`` 400 naming `limit`.
    static func pageLimit(_ text: String?) throws -> Int {
        guard let text else { return defaultPageSize }
        guard let value = Int(text), (1...maximumPageSize).contains(value) else {
            throw Problem.invalidParameter("limit", "must be an integer from 1 to \(maximumPageSize) (got '\(text)')")
        }
        return value
    }

    /// `POST /v1/jobs/{id}/retry`: 200 with the job, 409 unless it is dead or cancelled.
    func retry(_ text: String) async throws -> Response {
        let id = try jobID(text)
        let retried = try await storage.retry([id], now: clock.now)
        guard let record = try await storage.job(id) else { throw Problem.jobNotFound(text) }
        guard retried.contains(id) else {
            throw Problem.conflict(
                "job \(id) is \(record.state.rawValue): only dead or cancelled jobs can be retried", id: id, state: record.state
            )
        }
        return Self.respond(APIJSON.job(record))
    }

    /// `POST /v1/jobs/{id}/cancel`: 200 with the job, 409 when it has already finished.
    func cancel(_ text: String) async throws -> Response {
        let id = try jobID(text)
        let cancelled = try await storage.cancel([id], now: clock.now)
        guard let record = try await storage.job(id) else { throw Problem.jobNotFound(text) }
        guard cancelled.contains(id) else {
            throw Problem.conflict(
                "job \(id) is \(record.state.rawValue): only scheduled, available or running jobs can be cancelled", id: id,
                state: record.state
            )
        }
        return Self.respond(APIJSON.job(record))
    }

    /// `DELETE /v1/jobs/{id}`: 204, or 404.
    func delete(_ text: String) async throws -> Response {
        let deleted = try await storage.delete([try jobID(text)])
        guard !deleted.isEmpty else { throw Problem.jobNotFound(text) }
        return Response(status: .noContent)
    }

    // MARK: Queues and counts

    /// `GET /v1/queues`: every queue with jobs, paused or limited, by name, with its counts by
    /// state and its limits.
    func queues() async throws -> Response {
        let stats = try await storage.stats()
        let paused = try await storage.pausedQueues()
        let limits = try await storage.queueLimits()
        let names = Set(stats.queues.keys).union(paused).union(limits.keys).sorted()
        let queues: [JSONValue] = names.map { name in
            let counts = stats.queues[name] ?? [:]
            return .object([
                ("name", .string(name)),
                ("paused", .bool(paused.contains(name))),
                ("limits", APIJSON.limits(limits[name] ?? .none)),
                ("counts", APIJSON.counts(counts)),
                ("total", .int(counts.values.reduce(0, +))),
            ])
        }
        return Self.respond(.object([("queues", .array(queues))]))
    }

    /// `POST /v1/queues/{name}/pause|resume`: 200 `{"name", "paused"}`. `queue` is the decoded,
    /// checked name (``PathParameter/queueName(_:_:)``).
    func setPaused(_ paused: Bool, queue: String) async throws -> Response {
        try await storage.setPaused(paused, queue: queue)
        return Self.respond(.object([("name", .string(queue)), ("paused", .bool(paused))]))
    }

    /// `PUT /v1/queues/{name}/limits` `{"max_running": N, "rate": "COUNT/PERIOD"}` (either may
    /// be null or absent: no such limit; `{}` removes both): 200 `{"name", "limits"}`.
    func setLimits(_ request: Request, queue: String) async throws -> Response {
        let fields = try FieldReader(try await readJSON(request), known: ["max_running", "rate"], nullable: ["max_running", "rate"])
        let limits = QueueLimits(maxRunning: try fields.integer("max_running", in: 1...QueueLimits.maximum), rate: try fields.rate("rate"))
        try await storage.setLimits(limits, queue: queue)
        return Self.respond(.object([("name", .string(queue)), ("limits", APIJSON.limits(limits))]))
    }

    /// `GET /v1/stats`: counts by state over every queue, and per queue.
    func stats() async throws -> Response {
        let stats = try await storage.stats()
        let paused = try await storage.pausedQueues()
        var totals: [JobState: Int] = [:]
        for counts in stats.queues.values {
            for (state, count) in counts { totals[state, default: 0] += count }
        }
        return Self.respond(
            .object([
                ("total", .int(totals.values.reduce(0, +))),
                ("counts", APIJSON.counts(totals)),
                ("queues", .object(stats.queues.keys.sorted().map { ($0, APIJSON.counts(stats.queues[$0] ?? [:])) })),
                ("paused_queues", .array(paused.sorted().map { .string($0) })),
            ]))
    }

    // MARK: Operations

    /// `GET /healthz`: 200 when the process answers and storage answers a cheap query; 503
    /// (problem details) when storage fails.
    func health() async throws -> Response {
        do {
            _ = try await storage.pausedQueues()
        } catch {
            var problem = Problem(
                status: .serviceUnavailable, slug: "storage-unavailable", title: "The job store does not answer",
                detail: "the job store failed a health check: \(error)"
            )
            problem.headers[.retryAfter] = String(retryAfter)
            throw problem
        }
        return Self.respond(.object([("status", .string("ok")), ("storage", .string("ok"))]))
    }

    /// `GET /metrics`: the Prometheus registry, with queue depths refreshed from storage now.
    func metrics() async throws -> Response {
        let stats = try await storage.stats()
        let paused = try await storage.pausedQueues()
        gauges.update(stats: stats, paused: paused)
        var bytes: [UInt8] = []
        metricsRegistry.emit(into: &bytes)
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
