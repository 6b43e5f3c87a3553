import Foundation
import Spool

/// One job of `POST /v1/jobs` (or one entry of `POST /v1/jobs/batch`), checked field by field.
///
/// `{"kind", "payload"?, "queue"?, "priority"?, "run_at"? | "delay_s"?, "unique_key"?,
/// "max_attempts"?, "timeout_s"?, "metadata"?, "depends_on"?, "on_dependency_failure"?,
/// "batch"?}`. Unknown fields are refused, so a misspelt option (`runAt`) is an error rather than
/// silently ignored.
struct EnqueueRequest: Sendable {
    static let fields = [
        "kind", "payload", "queue", "priority", "run_at", "delay_s", "unique_key", "max_attempts", "timeout_s", "metadata",
        "depends_on", "on_dependency_failure", "batch",
    ]
    var kind: String
    /// The payload as JSON bytes (`{}` when absent).
    var payload: [UInt8]
    var queue: String?
    var priority: Int?
    var runAt: Date?
    var delay: Duration?
    var uniqueKey: String?
    var maxAttempts: Int?
    var timeout: Duration?
    /// String tags carried with the job, `traceparent` and `tracestate` among them (see
    /// ``TraceContext/metadata(_:field:)`` for the rules).
    var metadata: [String: String] = [:]
    /// The jobs it waits for, and what it does when one ends dead or cancelled.
    var dependsOn: [JobID] = []
    var dependencyFailure = DependencyFailure.cancel
    /// A running batch to join.
    var batch: BatchID?

    /// Reads one job from `json`; `path` prefixes the names of bad fields (`jobs[3].`).
    ///
    /// Names go through ``JobInput/name(_:field:)`` (NFC, no control characters), priority and
    /// max attempts must lie in ``JobInput``'s ranges, delays and timeouts within a year.
    /// - Throws: ``Problem`` 400 naming the field and what is wrong with it.
    init(json: JSONValue, path: String = "") throws {
        let fields = try FieldReader(json, path: path, known: Self.fields)
        guard let kind = try fields.name("kind") else {
            throw Problem.invalidField(path + "kind", "is required: the registered job name, a non-empty string")
        }
        self.kind = kind
        payload = json["payload"]?.bytes ?? Array("{}".utf8)
        queue = try fields.name("queue")
        priority = try fields.integer("priority", in: JobInput.priorityRange)
        if let value = try fields.field("run_at") {
            guard case .string(let text) = value else {
                throw Problem.invalidField(path + "run_at", "must be an RFC 3339 time string (got \(value.typeName))")
            }
            runAt = try Self.runAt(text, field: path + "run_at")
        }
        delay = try fields.seconds("delay_s", minimum: 0)
        if runAt != nil && delay != nil {
            throw Problem.invalidField(path + "delay_s", "cannot be given with run_at: give one or the other")
        }
        uniqueKey = try fields.name("unique_key")
        maxAttempts = try fields.integer("max_attempts", in: 1...JobInput.maximumAttempts)
        timeout = try fields.seconds("timeout_s", minimum: FieldReader.minimumPositiveSeconds)
        if let value = try fields.field("metadata") {
            metadata = try TraceContext.metadata(value, field: path + "metadata")
        }
        if let value = try fields.field("depends_on") {
            dependsOn = try Self.ids(value, field: path + "depends_on")
        }
        if let text = try fields.string("on_dependency_failure") {
            guard let failure = DependencyFailure(rawValue: text) else {
                throw Problem.invalidField(path + "on_dependency_failure", "must be cancel or run (got '\(text)')")
            }
            dependencyFailure = failure
        }
        if let text = try fields.string("batch") {
            guard let batch = BatchID(text) else { throw Problem.invalidField(path + "batch", "must be a batch id (got '\(text)')") }
            self.batch = batch
        }
    }

    /// `value` as a list of job ids: an array of at most ``JobInput/maximumDependencies``
    /// 26-character ids.
    static func ids(_ value: JSONValue, field: String) throws -> [JobID] {
        guard case .array(let items) = value else {
            throw Problem.invalidField(field, "must be an array of job ids (got \(value.typeName))")
        }
        guard items.count <= JobInput.maximumDependencies else {
            throw Problem.invalidField(field, "may name at most \(JobInput.maximumDependencies) jobs (got \(items.count))")
        }
        return try items.enumerated().map { index, item in
            guard case .string(let text) = item, let id = JobID(text) else {
                throw Problem.invalidField("\(field)[\(index)]", "must be a job id (26 characters of Crockford base 32)")
            }
            return id
        }
    }

    /// The earliest and latest run-at times, as the API writes them.
    static let runAtRange = "from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z"

    /// `text` as a run-at time: RFC 3339 (see ``RFC3339``) within ``JobInput``'s range.
    ///
    /// The range is checked in UTC, and the written year must be 1970 to 9999 too. On the two
    /// edge days an offset that could carry the time out of range is refused whatever the time
    /// of day: `1970-01-01` takes `Z` or an offset of zero or less, `9999-12-31` `Z` or an offset
    /// of zero or more. So the document's pattern states the rule exactly, and a fraction past
    /// the millisecond (cut, not rounded) never carries 9999-12-31T23:59:59.9999Z out of range.
    /// - Throws: ``Problem`` 400 naming `field`.
    static func runAt(_ text: String, field: String) throws -> Date {
        let reading: RFC3339.Reading
        do {
            reading = try RFC3339.read(text)
        } catch {
            throw Problem.invalidField(field, error.reason)
        }
        guard reading.year >= 1970 else {
            throw Problem.invalidField(field, "must be \(runAtRange) (got '\(text)')")
        }
        let firstDay = (reading.year, reading.month, reading.day) == (1970, 1, 1)
        let lastDay = (reading.year, reading.month, reading.day) == (9999, 12, 31)
        if (firstDay && reading.offsetSeconds > 0) || (lastDay && reading.offsetSeconds < 0) {
            throw Problem.invalidField(
                field, "must be \(runAtRange): on \(firstDay ? "1970-01-01" : "9999-12-31") write it in UTC (Z) (got '\(text)')"
            )
        }
        do {
            return try JobInput.runAt(reading.date, field: field)
        } catch let error as SpoolError {
            throw FieldReader.problem(error, field: field)
        }
    }

    /// The job to store, with the kind's registered defaults for what the request leaves out.
    func newJob(registry: JobRegistry, now: Date) -> NewJob {
        let defaults = registry.job(kind: kind)?.options
        let runAt = self.runAt ?? delay.map { now.adding($0) } ?? now
        return NewJob(
            id: JobID(date: now), queue: queue ?? defaults?.queue ?? "default", kind: kind, payload: JobPayload(bytes: payload),
            priority: priority ?? defaults?.priority ?? 0, maxAttempts: maxAttempts ?? defaults?.maxAttempts ?? 20,
            runAt: runAt, createdAt: now, uniqueKey: uniqueKey, timeout: timeout ?? defaults?.timeout, metadata: metadata,
            batch: batch, dependencies: dependsOn, dependencyFailure: dependencyFailure
        )
    }
}
