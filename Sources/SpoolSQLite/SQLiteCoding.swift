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
//
// Reading back treats the file as hostile (``JobColumnCoding``): numbers are read as SQLite
// converts them to INTEGER (a REAL saturates, text that is not a number reads as 0) and then
// clamped to their ranges (``StoredValue``); only an id that is not 16 bytes, a state that is
// not a state, or a value of a type GRDB cannot convert throws.

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
        result, progress, expired_leases, metadata, batch_id, \
        CASE WHEN waiting_on IS NULL THEN NULL ELSE (SELECT json_group_array(hex(depends_on)) FROM spool_dependencies WHERE job_id = spool_jobs.id) END, \
        on_dependency_failure
        """

    /// A full record from a row of ``recordColumns``.
    /// - Throws: ``SpoolError`` `storageUnavailable` naming the column (and the job, once its id
    ///   is read) for an id that is not 16 bytes, an unknown state, or a number column holding
    ///   text or a BLOB; other values saturate or read as documented in ``JobColumnCoding``.
    static func record(_ row: Row) throws -> JobRecord {
        let id = try id(try row.decode(atIndex: 0))
        let columns = StoredColumns(row: row, id: id)
        return JobRecord(
            id: id,
            queue: try columns.text(1, "queue"),
            kind: try columns.text(2, "kind"),
            payload: JobPayload(bytes: columns.bytes(3) ?? []),
            priority: StoredValue.priority(try columns.integer(4, "priority")),
            state: try state(try columns.text(5, "state"), job: id),
            attempt: StoredValue.attempt(try columns.integer(6, "attempt")),
            maxAttempts: StoredValue.maxAttempts(try columns.integer(7, "max_attempts")),
            runAt: date(micros: try columns.integer(8, "run_at")),
            createdAt: date(micros: try columns.integer(9, "created_at")),
            attemptedAt: try columns.optionalInteger(10, "attempted_at").map { date(micros: $0) },
            finishedAt: try columns.optionalInteger(11, "finished_at").map { date(micros: $0) },
            leaseOwner: try columns.optionalText(12, "lease_owner"),
            leaseExpiresAt: try columns.optionalInteger(13, "lease_expires_at").map { date(micros: $0) },
            errors: try decodeErrors(try columns.optionalText(14, "errors")),
            uniqueKey: try columns.optionalText(15, "unique_key"),
            timeout: try columns.optionalInteger(16, "timeout_us").map { duration(micros: $0) },
            result: columns.bytes(17),
            progress: try decodeProgress(try columns.optionalText(18, "progress")),
            expiredLeases: StoredValue.count(try columns.optionalInteger(19, "expired_leases") ?? 0),
            metadata: try decodeMetadata(try columns.optionalText(20, "metadata")),
            batch: try columns.optionalID(21, "batch_id").map(BatchID.init),
            dependencies: try decodeDependencies(try columns.optionalText(22, "dependencies"), job: id),
            // Anything but `run` reads as the default.
            dependencyFailure: try columns.optionalText(23, "on_dependency_failure").flatMap(DependencyFailure.init(rawValue:)) ?? .cancel
        )
    }

    /// The ids a job depends on, from a JSON array of their 32-digit hex forms, in id order.
    static func decodeDependencies(_ text: String?, job: JobID) throws -> [JobID] {
        guard let text else { return [] }
        let values: [String]
        do { values = try StoredValue.decodeJSON([String].self, Array(text.utf8)) } catch {
            throw corrupt("the dependencies are not a JSON array of ids", job: job)
        }
        return try values.map { hex in
            guard hex.utf8.count == 32, let high = UInt64(hex.prefix(16), radix: 16), let low = UInt64(hex.suffix(16), radix: 16) else {
                throw corrupt("a dependency id is '\(hex.prefix(40))', not 16 bytes of hex", job: job)
            }
            return JobID(high: high, low: low)
        }.sorted()
    }

    /// The columns a claim returns, in the order ``claimed(_:)`` reads them.
    static let claimedColumns =
        "id, queue, kind, payload, priority, attempt, max_attempts, created_at, run_at, timeout_us, metadata, batch_id"

    /// A claimed job from the row `columns` is on (the columns of ``claimedColumns``).
    static func claimed(_ columns: RawColumns) throws -> ClaimedJob {
        ClaimedJob(
            id: try columns.id(0),
            queue: columns.text(1),
            kind: columns.text(2),
            payload: JobPayload(bytes: columns.bytes(3)),
            priority: StoredValue.priority(columns.int64(4)),
            attempt: StoredValue.attempt(columns.int64(5)),
            maxAttempts: StoredValue.maxAttempts(columns.int64(6)),
            createdAt: date(micros: columns.int64(7)),
            runAt: date(micros: columns.int64(8)),
            timeout: columns.optionalInt64(9).map { duration(micros: $0) },
            metadata: try decodeMetadata(columns.optionalText(10)),
            batch: try columns.optionalID(11).map(BatchID.init)
        )
    }
}

/// The columns of one row of a job, read whatever their storage class: SQLite columns are typed
/// by affinity only, so a corrupt file may hold a REAL, TEXT or BLOB in any of them.
struct StoredColumns {
    let row: Row
    let id: JobID

    /// An integer; a REAL saturates at the ends of `Int64`.
    /// - Throws: when the column holds NULL, TEXT or a BLOB.
    func integer(_ index: Int, _ column: String) throws -> Int64 {
        guard let value = try optionalInteger(index, column) else {
            throw SQLiteCoding.corrupt("column '\(column)' is NULL", job: id)
        }
        return value
    }

    func optionalInteger(_ index: Int, _ column: String) throws -> Int64? {
        let value: DatabaseValue = row[index]
        switch value.storage {
        case .null: return nil
        case .int64(let integer): return integer
        case .double(let double): return Int64(saturating: double.rounded())
        case .string, .blob: throw SQLiteCoding.corrupt("column '\(column)' holds \(value.description.prefix(40)), not an integer", job: id)
        }
    }

    /// A job or batch id; nil for NULL.
    /// - Throws: when the column holds anything but a 16-byte BLOB.
    func optionalID(_ index: Int, _ column: String) throws -> JobID? {
        let value: DatabaseValue = row[index]
        switch value.storage {
        case .null: return nil
        case .blob(let data): return try SQLiteCoding.id(data)
        case .int64, .double, .string:
            throw SQLiteCoding.corrupt("column '\(column)' holds \(value.description.prefix(40)), not an id", job: id)
        }
    }

    /// Text; a BLOB is read as UTF-8 (invalid sequences replaced), a number as its digits.
    func optionalText(_ index: Int, _ column: String) throws -> String? {
        let value: DatabaseValue = row[index]
        switch value.storage {
        case .null: return nil
        case .string(let text): return text
        case .blob(let data): return String(decoding: data, as: UTF8.self)
        case .int64(let integer): return String(integer)
        case .double(let double): return String(double)
        }
    }

    func text(_ index: Int, _ column: String) throws -> String {
        guard let text = try optionalText(index, column) else {
            throw SQLiteCoding.corrupt("column '\(column)' is NULL", job: id)
        }
        return text
    }

    /// The bytes of a BLOB (or of TEXT); nil for NULL or a number.
    func bytes(_ index: Int) -> [UInt8]? {
        let value: DatabaseValue = row[index]
        switch value.storage {
        case .blob(let data): return Array(data)
        case .string(let text): return Array(text.utf8)
        case .null, .int64, .double: return nil
        }
    }
}
