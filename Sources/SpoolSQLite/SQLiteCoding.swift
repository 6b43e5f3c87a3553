import Foundation
import GRDB
import Spool

// How the driver turns the job model into column values and back. The formats here are the
// file format: changing one needs a migration.
//
// - ids: 16-byte BLOBs, the two halves big-endian, so byte order (SQLite's BLOB order) is the
//   order of `JobID`.
// - times: INTEGER microseconds since the Unix epoch (sub-microsecond parts are rounded away).
// - durations: INTEGER microseconds.
// - errors: a JSON array of `{"attempt", "at" (µs), "message", "reason"}`, oldest first.
// - progress: JSON `{"fraction", "message"?}`; metadata: a JSON object of strings, NULL when
//   empty.
// - payload and result: BLOBs of the encoded bytes (an empty payload reads back as NULL → []).

enum SQLiteCoding: JobColumnCoding {
    static let storeName = "SQLite"

    static func blob(_ id: JobID) -> Data {
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: id.high >> (56 - 8 * index))
            bytes[8 + index] = UInt8(truncatingIfNeeded: id.low >> (56 - 8 * index))
        }
        return Data(bytes)
    }

    static func id(_ blob: Data) throws -> JobID {
        guard blob.count == 16 else {
            throw SQLiteCoding.corrupt("a job id is \(blob.count) bytes long, not 16")
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        blob.withUnsafeBytes { raw in
            for index in 0..<8 {
                high = (high << 8) | UInt64(raw[index])
                low = (low << 8) | UInt64(raw[8 + index])
            }
        }
        return JobID(high: high, low: low)
    }

    // MARK: Rows

    /// The columns of a full job record, in the order ``record(_:)`` reads them.
    static let recordColumns = """
        id, queue, kind, payload, priority, state, attempt, max_attempts, run_at, created_at, \
        attempted_at, finished_at, lease_owner, lease_expires_at, errors, unique_key, timeout_us, \
        result, progress, expired_leases, metadata
        """

    static func record(_ row: Row) throws -> JobRecord {
        let payload: Data? = try row.decode(atIndex: 3)
        let result: Data? = try row.decode(atIndex: 17)
        let attemptedAt: Int64? = try row.decode(atIndex: 10)
        let finishedAt: Int64? = try row.decode(atIndex: 11)
        let leaseExpiresAt: Int64? = try row.decode(atIndex: 13)
        let timeout: Int64? = try row.decode(atIndex: 16)
        return JobRecord(
            id: try id(try row.decode(atIndex: 0)),
            queue: try row.decode(atIndex: 1),
            kind: try row.decode(atIndex: 2),
            payload: JobPayload(bytes: payload.map { Array($0) } ?? []),
            priority: try row.decode(atIndex: 4),
            state: try state(try row.decode(atIndex: 5)),
            attempt: try row.decode(atIndex: 6),
            maxAttempts: try row.decode(atIndex: 7),
            runAt: date(micros: try row.decode(atIndex: 8)),
            createdAt: date(micros: try row.decode(atIndex: 9)),
            attemptedAt: attemptedAt.map { date(micros: $0) },
            finishedAt: finishedAt.map { date(micros: $0) },
            leaseOwner: try row.decode(atIndex: 12),
            leaseExpiresAt: leaseExpiresAt.map { date(micros: $0) },
            errors: try decodeErrors(try row.decode(atIndex: 14)),
            uniqueKey: try row.decode(atIndex: 15),
            timeout: timeout.map { duration(micros: $0) },
            result: result.map { Array($0) },
            progress: try decodeProgress(try row.decode(atIndex: 18)),
            expiredLeases: try row.decode(atIndex: 19),
            metadata: try decodeMetadata(try row.decode(atIndex: 20))
        )
    }

    /// The columns a claim returns, in the order ``claimed(_:)`` reads them.
    static let claimedColumns = "id, queue, kind, payload, priority, attempt, max_attempts, created_at, run_at, timeout_us, metadata"

    /// A claimed job from the row `columns` is on (the columns of ``claimedColumns``).
    static func claimed(_ columns: RawColumns) throws -> ClaimedJob {
        ClaimedJob(
            id: try columns.id(0),
            queue: columns.text(1),
            kind: columns.text(2),
            payload: JobPayload(bytes: columns.bytes(3)),
            priority: columns.int(4),
            attempt: columns.int(5),
            maxAttempts: columns.int(6),
            createdAt: date(micros: columns.int64(7)),
            runAt: date(micros: columns.int64(8)),
            timeout: columns.optionalInt64(9).map { duration(micros: $0) },
            metadata: try decodeMetadata(columns.optionalText(10))
        )
    }
}
