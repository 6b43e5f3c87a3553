import Foundation
import Hummingbird
import Spool

/// The worker protocol under `/v1/worker/`: lets a program in any language run jobs, with the
/// same leases and at-least-once rules as a Swift ``Worker``.
///
/// 1. `POST /v1/worker/claim` `{"worker", "queues", "limit"?, "lease_s"?, "wait_s"?}` → `200
///    {"jobs": [...]}`: up to `limit` jobs (with their `metadata`: the trace context to
///    continue), now leased to `worker` for `lease_s` seconds. With
///    `wait_s` it long-polls: it answers as soon as a job is claimed, or with no jobs after the
///    wait.
/// 2. `POST /v1/worker/heartbeat` `{"worker", "ids", "lease_s"?}` → `200 {"extended", "lost"}`:
///    extends the leases still held; `lost` jobs were rescued, cancelled or deleted, so their
///    outcomes will not be stored.
/// 3. `POST /v1/worker/finish` `{"worker", "results": [{"id", "status": "succeeded" | "failed",
///    "result"?, "error"?, "retry_in_s"?, "permanent"?}]}` → `200 {"stored", "lost"}`. A failure
///    retries after `retry_in_s` (default: exponential backoff) while attempts remain, and is
///    `dead` when `permanent` or out of attempts.
///
/// A worker that stops heartbeating loses its jobs when their leases expire: the rescue puts
/// them back in line, and they run again (at least once).
struct WorkerRoutes: Sendable {
    let storage: any JobStorage
    let clock: any JobClock
    /// Reads and checks request bodies (the API's limit and problems).
    let read: @Sendable (Request) async throws -> JSONValue

    /// The most jobs one claim may ask for.
    static let maximumClaim = 500
    /// The most queues one claim may name.
    static let maximumQueues = 100
    /// The longest long-poll of a claim, in seconds.
    static let maximumWait = 60.0
    static let defaultLease = Duration.seconds(30)
    /// The longest lease, in seconds: a day.
    static let maximumLease = 86_400.0
    /// The most ids of a heartbeat, and results of a finish.
    static let maximumIDs = 1_000

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.post("/v1/worker/claim") { request, _ in try await self.claim(request) }
        router.post("/v1/worker/heartbeat") { request, _ in try await self.heartbeat(request) }
        router.post("/v1/worker/finish") { request, _ in try await self.finish(request) }
    }

    /// The worker's name, checked like every name (``JobInput/name(_:field:)``) and in NFC, so
    /// the lease owner written at the claim and the one a heartbeat or finish names agree.
    private func workerName(_ fields: FieldReader) throws -> String {
        try fields.required("worker", fields.name("worker"), "the worker's name, unique among running workers (e.g. host:pid)")
    }

    private func ids(_ items: [JSONValue], field: String) throws -> [JobID] {
        try items.enumerated().map { index, item in
            guard case .string(let text) = item, let id = JobID(text) else {
                throw Problem.invalidField("\(field)[\(index)]", "must be a job id (26 base-32 characters)")
            }
            return id
        }
    }

    // MARK: Claim

    func claim(_ request: Request) async throws -> Response {
        let fields = try FieldReader(try await read(request), known: ["worker", "queues", "limit", "lease_s", "wait_s"])
        let worker = try workerName(fields)
        let queueItems = try fields.required("queues", fields.array("queues", maximumCount: Self.maximumQueues), "an array of queue names")
        let queues: [String] = try queueItems.enumerated().map { index, item in
            try FieldReader.name(item, field: "queues[\(index)]")
        }
        guard !queues.isEmpty else { throw Problem.invalidField("queues", "must name at least one queue") }
        let limit = try fields.integer("limit", in: 1...Self.maximumClaim) ?? 1
        let lease =
            try fields.seconds("lease_s", minimum: FieldReader.minimumPositiveSeconds, maximum: Self.maximumLease) ?? Self.defaultLease
        let wait = try fields.seconds("wait_s", minimum: 0, maximum: Self.maximumWait) ?? .zero

        let claimRequest = ClaimRequest(
            demands: queues.map { QueueDemand(queue: $0, limit: limit) }, worker: worker, lease: lease, limit: limit)
        let deadline = clock.now.adding(wait)
        var jobs: [ClaimedJob] = []
        while true {
            jobs = try await storage.claim(claimRequest, now: clock.now)
            if !jobs.isEmpty || clock.now >= deadline || Task.isCancelled { break }
            await storage.waitForWork(queues: queues, deadline: deadline, clock: clock)
        }
        let expires = clock.now.adding(lease)
        let entries: [JSONValue] = jobs.map { job in
            .object([
                ("id", .string(job.id.description)),
                ("kind", .string(job.kind)),
                ("queue", .string(job.queue)),
                ("payload", APIJSON.payload(job.payload)),
                ("attempt", .int(job.attempt)),
                ("max_attempts", .int(job.maxAttempts)),
                ("priority", .int(job.priority)),
                ("created_at", .time(job.createdAt)),
                ("lease_expires_at", .time(expires)),
                ("timeout_s", job.timeout.map { .double($0.seconds) } ?? .null),
                // The trace context (`traceparent`, `tracestate`) and tags, for the worker to continue.
                ("metadata", .object(job.metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ])
        }
        return APIRoutes.respond(.object([("jobs", .array(entries))]))
    }

    // MARK: Heartbeat

    func heartbeat(_ request: Request) async throws -> Response {
        let fields = try FieldReader(try await read(request), known: ["worker", "ids", "lease_s"])
        let worker = try workerName(fields)
        let ids = try ids(
            try fields.required("ids", fields.array("ids", maximumCount: Self.maximumIDs), "an array of job ids"), field: "ids")
        let lease =
            try fields.seconds("lease_s", minimum: FieldReader.minimumPositiveSeconds, maximum: Self.maximumLease) ?? Self.defaultLease
        let lost = Set(try await storage.heartbeat(ids.map { JobHeartbeat(id: $0) }, worker: worker, lease: lease, now: clock.now).lost)
        return APIRoutes.respond(
            .object([
                ("extended", .array(ids.filter { !lost.contains($0) }.map { .string($0.description) })),
                ("lost", .array(ids.filter { lost.contains($0) }.map { .string($0.description) })),
            ]))
    }

    // MARK: Finish

    /// One entry of `results`.
    private struct Result {
        var id: JobID
        var succeeded: Bool
        var result: [UInt8]?
        var error: String
        var retryIn: Duration?
        var permanent: Bool
    }

    func finish(_ request: Request) async throws -> Response {
        let fields = try FieldReader(try await read(request), known: ["worker", "results"])
        let worker = try workerName(fields)
        let items = try fields.required("results", fields.array("results", maximumCount: Self.maximumIDs), "an array of outcomes")
        let results: [Result] = try items.enumerated().map { index, item in
            let path = "results[\(index)]."
            let entry = try FieldReader(
                item, path: path, known: ["id", "status", "result", "error", "retry_in_s", "permanent"], nullable: ["result"]
            )
            let text = try entry.required("id", entry.string("id"), "the job's id")
            guard let id = JobID(text) else { throw Problem.invalidField(path + "id", "must be a job id (26 base-32 characters)") }
            let status = try entry.required("status", entry.string("status"), "\"succeeded\" or \"failed\"")
            guard status == "succeeded" || status == "failed" else {
                throw Problem.invalidField(path + "status", "must be \"succeeded\" or \"failed\" (got \"\(status)\")")
            }
            return Result(
                id: id, succeeded: status == "succeeded", result: try entry.field("result")?.bytes,
                error: try entry.string("error") ?? "failed (no error message given)",
                retryIn: try entry.seconds("retry_in_s", minimum: 0), permanent: try entry.bool("permanent") ?? false
            )
        }
        let now = clock.now
        var completions: [JobCompletion] = []
        var unknown: [JobID] = []
        for result in results {
            if result.succeeded {
                completions.append(JobCompletion(id: result.id, outcome: .succeeded(result: result.result), at: now))
                continue
            }
            // The retry decision needs the attempt this run was: the job as stored.
            guard let record = try await storage.job(result.id), record.state == .running, record.leaseOwner == worker else {
                unknown.append(result.id)
                continue
            }
            let reason = result.permanent ? "permanent" : "error"
            let error = JobAttemptError(attempt: record.attempt, at: now, message: result.error, reason: reason)
            if !result.permanent && record.attempt < record.maxAttempts,
                let delay = result.retryIn ?? RetryStrategy.default.delay(afterAttempt: record.attempt)
            {
                completions.append(JobCompletion(id: result.id, outcome: .retry(at: now.adding(delay), error: error), at: now))
            } else {
                completions.append(JobCompletion(id: result.id, outcome: .dead(error: error), at: now))
            }
        }
        let lost = Set(try await storage.finish(completions, worker: worker).lost).union(unknown)
        return APIRoutes.respond(
            .object([
                ("stored", .array(results.map(\.id).filter { !lost.contains($0) }.map { .string($0.description) })),
                ("lost", .array(results.map(\.id).filter { lost.contains($0) }.map { .string($0.description) })),
            ]))
    }
}
