import Foundation
import NIOCore
import PostgresNIO
import Spool

// How the driver turns the job model into column values and back. The formats here are the
// database format: changing one needs a migration.
//
// - ids: `uuid`, the 16 bytes of the two halves big-endian; PostgreSQL compares uuids byte by
//   byte, so the order of `uuid` is the order of `JobID`.
// - times: `bigint` microseconds since the Unix epoch (rounded), like the SQLite driver: the
//   caller's clock decides every time, exactly; `to_timestamp(run_at / 1e6)` reads one.
// - durations: `bigint` microseconds.
// - errors: `jsonb` array of `{"attempt", "at" (µs), "message", "reason"}`, oldest first, capped
//   at ``JobAttemptError/historyLimit`` by the statements that append to it.
// - progress: `jsonb` `{"fraction", "message"?}`; metadata: a `jsonb` object of strings, NULL
//   when empty.
// - payload and result: `bytea`.
//
// Reading back treats the rows as hostile (``JobColumnCoding``): numbers and times out of their
// ranges are clamped (``StoredValue``), an unreadable error history, progress or metadata reads
// as documented there; an unknown state throws, naming the job.

enum PostgresCoding: JobColumnCoding {
    static let storeName = "PostgreSQL"

    static func uuid(_ id: JobID) -> UUID {
        let h = id.high
        let l = id.low
        return UUID(
            uuid: (
                UInt8(truncatingIfNeeded: h >> 56), UInt8(truncatingIfNeeded: h >> 48),
                UInt8(truncatingIfNeeded: h >> 40), UInt8(truncatingIfNeeded: h >> 32),
                UInt8(truncatingIfNeeded: h >> 24), UInt8(truncatingIfNeeded: h >> 16),
                UInt8(truncatingIfNeeded: h >> 8), UInt8(truncatingIfNeeded: h),
                UInt8(truncatingIfNeeded: l >> 56), UInt8(truncatingIfNeeded: l >> 48),
                UInt8(truncatingIfNeeded: l >> 40), UInt8(truncatingIfNeeded: l >> 32),
                UInt8(truncatingIfNeeded: l >> 24), UInt8(truncatingIfNeeded: l >> 16),
                UInt8(truncatingIfNeeded: l >> 8), UInt8(truncatingIfNeeded: l)
            ))
    }

    static func id(_ uuid: UUID) -> JobID {
        let b = uuid.uuid
        let high = [b.0, b.1, b.2, b.3, b.4, b.5, b.6, b.7].reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
        let low = [b.8, b.9, b.10, b.11, b.12, b.13, b.14, b.15].reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
        return JobID(high: high, low: low)
    }

    static func bytes(_ buffer: ByteBuffer?) -> [UInt8]? {
        guard var buffer else { return nil }
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    /// SQL for `errors` (a jsonb array expression) cut to its newest
    /// ``JobAttemptError/historyLimit`` entries.
    static func capped(_ errors: String) -> String {
        let limit = JobAttemptError.historyLimit
        return """
            (CASE WHEN jsonb_array_length(\(errors)) > \(limit) \
            THEN jsonb_path_query_array(\(errors), '$[last - \(limit - 1) to last]') ELSE \(errors) END)
            """
    }

    // MARK: Rows

    /// The columns of a full job record, in the order ``record(_:)`` reads them, from the
    /// table `jobs` with its schema prefix `s` (`"schema".` or empty): a job's dependencies
    /// are read from the dependencies table beside it.
    static func recordColumns(_ s: String) -> String {
        """
        id, queue, kind, payload, priority, state, attempt, max_attempts, run_at, created_at, \
        attempted_at, finished_at, lease_owner, lease_expires_at, errors::text, unique_key, timeout_us, \
        result, progress::text, expired_leases, metadata::text, batch_id, \
        CASE WHEN waiting_on IS NULL THEN NULL ELSE ARRAY(SELECT d.depends_on FROM \(s)dependencies d WHERE d.job_id = id ORDER BY d.depends_on) END, \
        on_dependency_failure
        """
    }

    static func record(_ row: PostgresRow) throws -> JobRecord {
        let cells = row.makeRandomAccess()
        let id = id(try cells[0].decode(UUID.self))
        let attemptedAt = try cells[10].decode(Int64?.self)
        let finishedAt = try cells[11].decode(Int64?.self)
        let leaseExpiresAt = try cells[13].decode(Int64?.self)
        let timeout = try cells[16].decode(Int64?.self)
        return JobRecord(
            id: id,
            queue: try cells[1].decode(String.self),
            kind: try cells[2].decode(String.self),
            payload: JobPayload(bytes: bytes(try cells[3].decode(ByteBuffer?.self)) ?? []),
            priority: StoredValue.priority(try cells[4].decode(Int64.self)),
            state: try state(try cells[5].decode(String.self), job: id),
            attempt: StoredValue.attempt(try cells[6].decode(Int64.self)),
            maxAttempts: StoredValue.maxAttempts(try cells[7].decode(Int64.self)),
            runAt: date(micros: try cells[8].decode(Int64.self)),
            createdAt: date(micros: try cells[9].decode(Int64.self)),
            attemptedAt: attemptedAt.map { date(micros: $0) },
            finishedAt: finishedAt.map { date(micros: $0) },
            leaseOwner: try cells[12].decode(String?.self),
            leaseExpiresAt: leaseExpiresAt.map { date(micros: $0) },
            errors: try decodeErrors(try cells[14].decode(String?.self)),
            uniqueKey: try cells[15].decode(String?.self),
            timeout: timeout.map { duration(micros: $0) },
            result: bytes(try cells[17].decode(ByteBuffer?.self)),
            progress: try decodeProgress(try cells[18].decode(String?.self)),
            expiredLeases: StoredValue.count(try cells[19].decode(Int64.self)),
            metadata: try decodeMetadata(try cells[20].decode(String?.self)),
            batch: try cells[21].decode(UUID?.self).map { BatchID(self.id($0)) },
            dependencies: try cells[22].decode([UUID]?.self)?.map(self.id) ?? [],
            dependencyFailure: try dependencyFailure(try cells[23].decode(String?.self), job: id)
        )
    }

    /// How a job with dependencies treats a failed one; `cancel` when it has none.
    /// - Throws: ``SpoolError`` naming the job for a value that is neither `cancel` nor `run`.
    static func dependencyFailure(_ text: String?, job: JobID) throws -> DependencyFailure {
        guard let text else { return .cancel }
        guard let value = DependencyFailure(rawValue: text) else {
            throw corrupt("column 'on_dependency_failure' holds '\(text.prefix(40))', neither cancel nor run", job: job)
        }
        return value
    }

    /// The columns a claim returns, in the order ``claimed(_:)`` reads them.
    static let claimedColumns = """
        j.id, j.queue, j.kind, j.payload, j.priority, j.attempt, j.max_attempts, j.created_at, j.run_at, \
        j.timeout_us, j.metadata::text, j.batch_id
        """

    static func claimed(_ cells: [PostgresCell]) throws -> ClaimedJob {
        let timeout = try cells[9].decode(Int64?.self)
        return ClaimedJob(
            id: id(try cells[0].decode(UUID.self)),
            queue: try cells[1].decode(String.self),
            kind: try cells[2].decode(String.self),
            payload: JobPayload(bytes: bytes(try cells[3].decode(ByteBuffer?.self)) ?? []),
            priority: StoredValue.priority(try cells[4].decode(Int64.self)),
            attempt: StoredValue.attempt(try cells[5].decode(Int64.self)),
            maxAttempts: StoredValue.maxAttempts(try cells[6].decode(Int64.self)),
            createdAt: date(micros: try cells[7].decode(Int64.self)),
            runAt: date(micros: try cells[8].decode(Int64.self)),
            timeout: timeout.map { duration(micros: $0) },
            metadata: try decodeMetadata(try cells[10].decode(String?.self)),
            batch: try cells[11].decode(UUID?.self).map { BatchID(id($0)) }
        )
    }

    /// Limits from the queues table's columns (NULL is no limit).
    static func limits(maxRunning: Int32?, rateLimit: Int32?, periodMicros: Int64?) -> QueueLimits {
        QueueLimits.stored(
            maxRunning: maxRunning.map(Int64.init), rateCount: rateLimit.map(Int64.init), period: periodMicros.map { .microseconds($0) }
        )
    }

    /// A row of `limitedQueues`: the queue, its limits, and what they allow now.
    static func allowance(_ row: PostgresRow) throws -> (String, QueueLimits, QueueAllowance) {
        let (name, maxRunning, rateLimit, period, running, ats, counts) = try row.decode(
            (String, Int32?, Int32?, Int64?, Int64, [Int64], [Int64]).self
        )
        let limits = limits(maxRunning: maxRunning, rateLimit: rateLimit, periodMicros: period)
        let starts = zip(ats, counts).map { (at: date(micros: $0), count: Int(clamping: $1)) }
        return (name, limits, QueueAllowance(limits: limits, running: Int(running), startsInWindow: starts))
    }
}
