import Foundation

/// The column formats the SQL drivers (SQLite, PostgreSQL) share, so that a job's fields are
/// written one way. The formats are database formats: changing one needs a migration in every
/// driver that adopts this protocol.
///
/// - times: microseconds since the Unix epoch, rounded; durations: microseconds.
/// - state: the state's raw value.
/// - errors: a JSON array of `{"attempt", "at" (µs), "message", "reason"}`, oldest first.
/// - progress: JSON `{"fraction", "message"?}`; metadata: a JSON object of strings, nil when
///   empty.
///
/// A driver adopts it with the name its errors use (`storeName`). Reading back treats a row as
/// hostile (a corrupt file, a row edited by hand): nothing traps. A value out of range saturates
/// as `StoredValue` documents; an error history, progress or metadata that is not what was
/// written reads as `StoredValue.unreadableErrors(_:)`, nil and empty, so the job stays
/// readable; an id or state that cannot be read throws ``SpoolError`` `storageUnavailable`
/// naming the store, the column and (when known) the job.
package protocol JobColumnCoding {
    /// The store's name in messages: "SQLite", "PostgreSQL".
    static var storeName: String { get }
}

extension JobColumnCoding {
    /// Microseconds since the Unix epoch, saturating at the ends of `Int64` (about ±292,000
    /// years).
    package static func micros(_ date: Date) -> Int64 {
        Int64(saturating: (date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    /// A stored time, clamped to ``JobInput/earliestRunAt`` ... ``JobInput/latestRunAt``.
    package static func date(micros: Int64) -> Date {
        StoredValue.date(micros: micros)
    }

    package static func micros(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds &* 1_000_000 &+ attoseconds / 1_000_000_000_000
    }

    /// A lease's expiry: `lease` after `now` (microseconds), saturating at the ends of `Int64`.
    package static func expiry(from now: Int64, lease: Duration) -> Int64 {
        let lease = micros(lease)
        let (sum, overflow) = now.addingReportingOverflow(lease)
        return overflow ? (lease > 0 ? .max : .min) : sum
    }

    /// A stored timeout, clamped to 1 µs ... ``JobInput/maximumDuration``.
    package static func duration(micros: Int64) -> Duration {
        StoredValue.timeout(micros: micros)
    }

    /// A stored state.
    /// - Parameters:
    ///   - text: the column's value.
    ///   - job: the job whose row it is, for the error.
    /// - Throws: ``SpoolError`` `storageUnavailable` naming the column (and the job) when `text`
    ///   is not a state.
    package static func state(_ text: String, job: JobID? = nil) throws -> JobState {
        guard let state = JobState(rawValue: text) else {
            throw corrupt("column 'state' holds an unknown job state '\(text.prefix(40))'", job: job)
        }
        return state
    }

    /// The error a malformed stored value is reported as.
    package static func corrupt(_ what: String) -> SpoolError {
        SpoolError(code: .storageUnavailable, message: "the \(storeName) job store holds a malformed row: \(what)")
    }

    /// The error a malformed stored value of `job` is reported as.
    package static func corrupt(_ what: String, job: JobID?) -> SpoolError {
        guard let job else { return corrupt(what) }
        return SpoolError(
            code: .storageUnavailable, message: "the \(storeName) job store holds a malformed row: job \(job): \(what)", job: job)
    }

    // MARK: JSON columns

    package static func encodeErrors(_ errors: [JobAttemptError]) throws -> String {
        try JSONCoding.text(errors.map { StoredAttemptError($0, at: micros($0.at)) })
    }

    /// One error as a JSON object, for statements that append it to a stored array.
    package static func encodeError(_ error: JobAttemptError) throws -> String {
        try JSONCoding.text(StoredAttemptError(error, at: micros(error.at)))
    }

    /// A stored error history; one that is not a JSON array of errors reads as the single entry
    /// of `StoredValue.unreadableErrors(_:)` (so the job stays readable, and a later failure
    /// appends to that). Never throws (the signature is kept for the drivers that call it).
    package static func decodeErrors(_ text: String?) throws -> [JobAttemptError] {
        guard let text, !text.isEmpty else { return [] }
        guard let stored = try? decode([StoredAttemptError].self, text) else { return StoredValue.unreadableErrors(text) }
        return stored.map {
            JobAttemptError(
                attempt: StoredValue.attempt(Int64($0.attempt)), at: date(micros: $0.at), message: $0.message, reason: $0.reason)
        }
    }

    /// `errors` with `added` appended, keeping the newest ``JobAttemptError/historyLimit``.
    package static func appending(_ added: [JobAttemptError], to text: String?) throws -> String {
        var errors = try decodeErrors(text)
        errors.append(contentsOf: added)
        if errors.count > JobAttemptError.historyLimit {
            errors.removeFirst(errors.count - JobAttemptError.historyLimit)
        }
        return try encodeErrors(errors)
    }

    package static func encodeProgress(_ progress: JobProgress?) throws -> String? {
        guard let progress else { return nil }
        let stored = StoredProgress(fraction: progress.fraction, message: progress.message)
        return try JSONCoding.text(stored)
    }

    /// A stored progress; one that is not JSON `{"fraction", "message"?}` reads as nil (no
    /// progress reported), a fraction outside 0...1 as the nearest end. Never throws (the
    /// signature is kept for the drivers that call it).
    package static func decodeProgress(_ text: String?) throws -> JobProgress? {
        guard let text, let stored = try? decode(StoredProgress.self, text) else { return nil }
        return JobProgress(fraction: stored.fraction, message: stored.message)
    }

    package static func encodeMetadata(_ metadata: [String: String]) throws -> String? {
        guard !metadata.isEmpty else { return nil }
        return try JSONCoding.text(metadata)
    }

    /// `text` as `T`, through ``PayloadDecoder`` (these columns hold no dates, so a plain
    /// `JSONDecoder` is the fallback).
    private static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try StoredValue.decodeJSON(T.self, Array(text.utf8))
    }

    /// Stored metadata; a value that is not a JSON object of strings reads as empty (metadata
    /// is trace context and tags: a job runs without them). Never throws (the signature is kept
    /// for the drivers that call it).
    package static func decodeMetadata(_ text: String?) throws -> [String: String] {
        guard let text, !text.isEmpty else { return [:] }
        return (try? decode([String: String].self, text)) ?? [:]
    }
}

/// One failed attempt as the SQL drivers store it (`at` in microseconds).
private struct StoredAttemptError: Codable {
    var attempt: Int
    var at: Int64
    var message: String
    var reason: String

    init(_ error: JobAttemptError, at: Int64) {
        attempt = error.attempt
        self.at = at
        message = error.message
        reason = error.reason
    }
}

private struct StoredProgress: Codable {
    var fraction: Double
    var message: String?
}
