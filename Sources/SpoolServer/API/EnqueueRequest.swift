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
    static let maximumNameLength = 255
    /// The longest delay or timeout accepted: a year.
    static let maximumSeconds = 366.0 * 86_400

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
        guard case .object(let members) = json else {
            if path.isEmpty { throw Problem.badRequest("the request body must be a JSON object (got \(json.typeName))") }
            throw Problem.invalidField(String(path.dropLast()), "must be an object (got \(json.typeName))")
        }
        var seen = Set<String>()
        for (key, _) in members {
            guard Self.fields.contains(key) else {
                throw Problem.invalidField(path + key, "is not a known field (known: \(Self.fields.joined(separator: ", ")))")
            }
            guard seen.insert(key).inserted else { throw Problem.invalidField(path + key, "appears twice") }
        }
        func field(_ key: String) -> JSONValue? {
            guard let value = json[key] else { return nil }
            if case .null = value { return nil }
            return value
        }
        func name(_ key: String, _ value: JSONValue?) throws -> String? {
            guard let value else { return nil }
            guard case .string(let text) = value else { throw Problem.invalidField(path + key, "must be a string (got \(value.typeName))") }
            guard !text.isEmpty else { throw Problem.invalidField(path + key, "must not be empty") }
            guard text.utf8.count <= Self.maximumNameLength else {
                throw Problem.invalidField(path + key, "must be at most \(Self.maximumNameLength) bytes long (got \(text.utf8.count))")
            }
            return text
        }
        func integer(_ key: String) throws -> Int? {
            guard let value = field(key) else { return nil }
            guard case .number(let text) = value else { throw Problem.invalidField(path + key, "must be an integer (got \(value.typeName))") }
            guard let number = Int(text) else {
                let isWhole = !text.contains { $0 == "." || $0 == "e" || $0 == "E" }
                throw Problem.invalidField(path + key, isWhole ? "must fit in 64 bits (got \(text))" : "must be an integer (got \(text))")
            }
            return number
        }
        func seconds(_ key: String, allowZero: Bool) throws -> Duration? {
            guard let value = field(key) else { return nil }
            guard case .number(let text) = value, let number = Double(text), number.isFinite else {
                throw Problem.invalidField(path + key, "must be a number of seconds (got \(value.typeName))")
            }
            guard allowZero ? number >= 0 : number > 0 else {
                throw Problem.invalidField(path + key, "must be \(allowZero ? "zero or more" : "more than zero") seconds (got \(text))")
            }
            guard number <= Self.maximumSeconds else {
                throw Problem.invalidField(path + key, "must be at most a year, \(Int(Self.maximumSeconds)) seconds (got \(text))")
            }
            return .milliseconds(Int64((number * 1000).rounded()))
        }

        guard let kind = try name("kind", field("kind")) else {
            throw Problem.invalidField(path + "kind", "is required: the registered job name, a non-empty string")
        }
        self.kind = kind
        payload = json["payload"]?.bytes ?? Array("{}".utf8)
        queue = try name("queue", field("queue"))
        priority = try integer("priority")
        if let value = field("run_at") {
            guard case .string(let text) = value else {
                throw Problem.invalidField(path + "run_at", "must be an RFC 3339 time string (got \(value.typeName))")
            }
            guard let date = RFC3339.parse(text) else {
                throw Problem.invalidField(path + "run_at", "must be an RFC 3339 time such as 2026-01-31T12:00:00Z (got '\(text)')")
            }
            runAt = date
        }
        delay = try seconds("delay_s", allowZero: true)
        if runAt != nil && delay != nil {
            throw Problem.invalidField(path + "delay_s", "cannot be given with run_at: give one or the other")
        }
        uniqueKey = try name("unique_key", field("unique_key"))
        maxAttempts = try integer("max_attempts")
        if let maxAttempts, maxAttempts < 1 {
            throw Problem.invalidField(path + "max_attempts", "must be at least 1 (got \(maxAttempts))")
        }
        timeout = try seconds("timeout_s", allowZero: false)
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
