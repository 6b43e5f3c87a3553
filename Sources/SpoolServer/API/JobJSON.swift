import Foundation
import Spool

/// How jobs, queues and counts look in the API (snake_case names, RFC 3339 UTC times).
package enum APIJSON {
    /// `{"max_running": N or null, "rate": "COUNT/PERIOD" or null}`.
    package static func limits(_ limits: QueueLimits) -> JSONValue {
        .object([
            ("max_running", limits.maxRunning.map { .int($0) } ?? .null),
            ("rate", limits.rate.map { .string($0.description) } ?? .null),
        ])
    }

    /// A job in full, for `GET /v1/jobs/{id}` and the answers of retry and cancel.
    package static func job(_ record: JobRecord) -> JSONValue {
        .object([
            ("id", .string(record.id.description)),
            ("queue", .string(record.queue)),
            ("kind", .string(record.kind)),
            ("state", .string(record.state.rawValue)),
            ("priority", .int(record.priority)),
            ("attempt", .int(record.attempt)),
            ("max_attempts", .int(record.maxAttempts)),
            ("payload", payload(record.payload)),
            ("run_at", .time(record.runAt)),
            ("created_at", .time(record.createdAt)),
            ("attempted_at", .time(record.attemptedAt)),
            ("finished_at", .time(record.finishedAt)),
            ("lease_owner", .string(record.leaseOwner)),
            ("lease_expires_at", .time(record.leaseExpiresAt)),
            ("errors", .array(record.errors.map(error))),
            ("unique_key", .string(record.uniqueKey)),
            ("timeout_s", record.timeout.map { .double($0.seconds) } ?? .null),
            ("result", .embedding(record.result)),
            ("progress", record.progress.map(progress) ?? .null),
            ("metadata", .object(record.metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("batch", .string(record.batch?.description)),
            ("depends_on", .array(record.dependencies.map { .string($0.description) })),
            ("on_dependency_failure", .string(record.dependencyFailure.rawValue)),
        ])
    }

    /// A batch with its counts and the ids of the callbacks that fired.
    package static func batch(_ record: BatchRecord) -> JSONValue {
        .object([
            ("id", .string(record.id.description)),
            ("state", .string(record.state.rawValue)),
            ("total", .int(record.total)),
            ("counts", counts(record.counts)),
            ("created_at", .time(record.createdAt)),
            ("finished_at", .time(record.finishedAt)),
            ("cancelled_at", .time(record.cancelledAt)),
            (
                "callbacks",
                .object(
                    BatchEvent.allCases.filter(record.callbackEvents.contains).map { event in
                        ("on_\(event.rawValue)", .string(record.callbackJobs[event]?.description))
                    })
            ),
        ])
    }

    /// A job in a listing: no payload, result or full error history (fetch the job for those).
    package static func jobSummary(_ record: JobRecord) -> JSONValue {
        .object([
            ("id", .string(record.id.description)),
            ("queue", .string(record.queue)),
            ("kind", .string(record.kind)),
            ("state", .string(record.state.rawValue)),
            ("priority", .int(record.priority)),
            ("attempt", .int(record.attempt)),
            ("max_attempts", .int(record.maxAttempts)),
            ("run_at", .time(record.runAt)),
            ("created_at", .time(record.createdAt)),
            ("attempted_at", .time(record.attemptedAt)),
            ("finished_at", .time(record.finishedAt)),
            ("unique_key", .string(record.uniqueKey)),
            ("last_error", record.lastError.map(error) ?? .null),
        ])
    }

    package static func error(_ error: JobAttemptError) -> JSONValue {
        .object([
            ("attempt", .int(error.attempt)),
            ("at", .time(error.at)),
            ("message", .string(error.message)),
            ("reason", .string(error.reason)),
        ])
    }

    package static func progress(_ progress: JobProgress) -> JSONValue {
        .object([("fraction", .double(progress.fraction)), ("message", .string(progress.message))])
    }

    /// The payload as JSON when it is JSON (it always is for jobs enqueued over HTTP or from
    /// `Codable` parameters), else its text as a string.
    package static func payload(_ payload: JobPayload) -> JSONValue {
        guard let bytes = try? payload.encoded() else { return .null }
        return .embedding(bytes)
    }

    /// Counts of every state (zero included), in the states' order.
    package static func counts(_ counts: [JobState: Int]) -> JSONValue {
        .object(JobState.allCases.map { ($0.rawValue, .int(counts[$0] ?? 0)) })
    }

    /// The answer for one stored (or matched) job of an enqueue.
    package static func enqueued(_ result: EnqueueResult) -> JSONValue {
        .object([
            ("id", .string(result.id.description)),
            ("state", .string(result.state.rawValue)),
            ("existing", .bool(result.existing)),
        ])
    }
}
