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

enum SQLiteCoding {
    /// Microseconds since the Unix epoch.
    static func micros(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    static func date(micros: Int64) -> Date {
        Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }

    static func micros(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds &* 1_000_000 &+ attoseconds / 1_000_000_000_000
    }

    static func duration(micros: Int64) -> Duration {
        .microseconds(micros)
    }

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

    static func state(_ text: String) throws -> JobState {
        guard let state = JobState(rawValue: text) else {
            throw SQLiteCoding.corrupt("unknown job state '\(text)'")
        }
        return state
    }

    // MARK: JSON columns

    struct StoredError: Codable {
        var attempt: Int
        var at: Int64
        var message: String
        var reason: String
    }

    struct StoredProgress: Codable {
        var fraction: Double
        var message: String?
    }

    static func encodeErrors(_ errors: [JobAttemptError]) throws -> String {
        let stored = errors.map { StoredError(attempt: $0.attempt, at: micros($0.at), message: $0.message, reason: $0.reason) }
        return String(decoding: try JSONEncoder().encode(stored), as: UTF8.self)
    }

    static func decodeErrors(_ text: String?) throws -> [JobAttemptError] {
        guard let text, !text.isEmpty else { return [] }
        do {
            return try JSONDecoder().decode([StoredError].self, from: Data(text.utf8)).map {
                JobAttemptError(attempt: $0.attempt, at: date(micros: $0.at), message: $0.message, reason: $0.reason)
            }
        } catch {
            throw corrupt("a job's error history is not valid JSON: \(error)")
        }
    }

    /// `errors` with `added` appended, keeping the newest ``JobAttemptError/historyLimit``.
    static func appending(_ added: [JobAttemptError], to text: String?) throws -> String {
        var errors = try decodeErrors(text)
        errors.append(contentsOf: added)
        if errors.count > JobAttemptError.historyLimit {
            errors.removeFirst(errors.count - JobAttemptError.historyLimit)
        }
        return try encodeErrors(errors)
    }

    static func encodeProgress(_ progress: JobProgress?) throws -> String? {
        guard let progress else { return nil }
        let stored = StoredProgress(fraction: progress.fraction, message: progress.message)
        return String(decoding: try JSONEncoder().encode(stored), as: UTF8.self)
    }

    static func decodeProgress(_ text: String?) throws -> JobProgress? {
        guard let text else { return nil }
        do {
            let stored = try JSONDecoder().decode(StoredProgress.self, from: Data(text.utf8))
            return JobProgress(fraction: stored.fraction, message: stored.message)
        } catch {
            throw corrupt("a job's progress is not valid JSON: \(error)")
        }
    }

    static func encodeMetadata(_ metadata: [String: String]) throws -> String? {
        guard !metadata.isEmpty else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(metadata), as: UTF8.self)
    }

    static func decodeMetadata(_ text: String?) throws -> [String: String] {
        guard let text, !text.isEmpty else { return [:] }
        do {
            return try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
        } catch {
            throw corrupt("a job's metadata is not a JSON object of strings: \(error)")
        }
    }

    static func corrupt(_ what: String) -> SpoolError {
        SpoolError(code: .storageUnavailable, message: "the SQLite job store holds a malformed row: \(what)")
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

    static func claimed(_ row: Row) throws -> ClaimedJob {
        let payload: Data? = try row.decode(atIndex: 3)
        let timeout: Int64? = try row.decode(atIndex: 9)
        return ClaimedJob(
            id: try id(try row.decode(atIndex: 0)),
            queue: try row.decode(atIndex: 1),
            kind: try row.decode(atIndex: 2),
            payload: JobPayload(bytes: payload.map { Array($0) } ?? []),
            priority: try row.decode(atIndex: 4),
            attempt: try row.decode(atIndex: 5),
            maxAttempts: try row.decode(atIndex: 6),
            createdAt: date(micros: try row.decode(atIndex: 7)),
            runAt: date(micros: try row.decode(atIndex: 8)),
            timeout: timeout.map { duration(micros: $0) },
            metadata: try decodeMetadata(try row.decode(atIndex: 10))
        )
    }
}
