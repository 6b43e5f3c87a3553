import Foundation
import Spool

/// One job of `POST /v1/jobs` (or one entry of `POST /v1/jobs/batch`), checked field by field.
///
/// `{"kind", "payload"?, "queue"?, "priority"?, "run_at"? | "delay_s"?, "unique_key"?,
/// "max_attempts"?, "timeout_s"?}`. Unknown fields are refused, so a misspelt option
/// (`runAt`) is an error rather than silently ignored.
struct EnqueueRequest: Sendable {
    static let fields = ["kind", "payload", "queue", "priority", "run_at", "delay_s", "unique_key", "max_attempts", "timeout_s"]
    /// The longest kind, queue name and unique key accepted.
    static let maximumNameLength = FieldReader.maximumNameLength

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

    /// Reads one job from `json`; `path` prefixes the names of bad fields (`jobs[3].`).
    /// - Throws: ``Problem`` 400 naming the field and what is wrong with it.
    init(json: JSONValue, path: String = "") throws {
        let fields = try FieldReader(json, path: path, known: Self.fields)
        guard let kind = try fields.name("kind") else {
            throw Problem.invalidField(path + "kind", "is required: the registered job name, a non-empty string")
        }
        self.kind = kind
        payload = json["payload"]?.bytes ?? Array("{}".utf8)
        queue = try fields.name("queue")
        priority = try fields.integer("priority")
        if let value = fields.field("run_at") {
            guard case .string(let text) = value else {
                throw Problem.invalidField(path + "run_at", "must be an RFC 3339 time string (got \(value.typeName))")
            }
            guard let date = RFC3339.parse(text) else {
                throw Problem.invalidField(path + "run_at", "must be an RFC 3339 time such as 2026-01-31T12:00:00Z (got '\(text)')")
            }
            runAt = date
        }
        delay = try fields.seconds("delay_s", allowZero: true)
        if runAt != nil && delay != nil {
            throw Problem.invalidField(path + "delay_s", "cannot be given with run_at: give one or the other")
        }
        uniqueKey = try fields.name("unique_key")
        maxAttempts = try fields.integer("max_attempts")
        if let maxAttempts, maxAttempts < 1 {
            throw Problem.invalidField(path + "max_attempts", "must be at least 1 (got \(maxAttempts))")
        }
        timeout = try fields.seconds("timeout_s", allowZero: false)
    }

    /// The job to store, with the kind's registered defaults for what the request leaves out.
    func newJob(registry: JobRegistry, now: Date) -> NewJob {
        let defaults = registry.job(kind: kind)?.options
        let runAt = self.runAt ?? delay.map { now.adding($0) } ?? now
        return NewJob(
            id: JobID(date: now), queue: queue ?? defaults?.queue ?? "default", kind: kind, payload: JobPayload(bytes: payload),
            priority: priority ?? defaults?.priority ?? 0, maxAttempts: maxAttempts ?? defaults?.maxAttempts ?? 20,
            runAt: runAt, createdAt: now, uniqueKey: uniqueKey, timeout: timeout ?? defaults?.timeout
        )
    }
}
