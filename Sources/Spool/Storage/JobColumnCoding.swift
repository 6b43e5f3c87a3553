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
/// A driver adopts it with the name its errors use (`storeName`); a value that cannot be read
/// back is reported as ``SpoolError`` `storageUnavailable` naming the store and the field.
public protocol JobColumnCoding {
    /// The store's name in messages: "SQLite", "PostgreSQL".
    static var storeName: String { get }
}

extension JobColumnCoding {
    /// Microseconds since the Unix epoch.
    public static func micros(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    public static func date(micros: Int64) -> Date {
        Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }

    public static func micros(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds &* 1_000_000 &+ attoseconds / 1_000_000_000_000
    }

    public static func duration(micros: Int64) -> Duration {
        .microseconds(micros)
    }

    public static func state(_ text: String) throws -> JobState {
        guard let state = JobState(rawValue: text) else {
            throw corrupt("unknown job state '\(text)'")
        }
        return state
    }

    /// The error a malformed stored value is reported as.
    public static func corrupt(_ what: String) -> SpoolError {
        SpoolError(code: .storageUnavailable, message: "the \(storeName) job store holds a malformed row: \(what)")
    }

    // MARK: JSON columns

    public static func encodeErrors(_ errors: [JobAttemptError]) throws -> String {
        String(decoding: try JSONEncoder().encode(errors.map { StoredAttemptError($0, at: micros($0.at)) }), as: UTF8.self)
    }

    /// One error as a JSON object, for statements that append it to a stored array.
    public static func encodeError(_ error: JobAttemptError) throws -> String {
        String(decoding: try JSONEncoder().encode(StoredAttemptError(error, at: micros(error.at))), as: UTF8.self)
    }

    public static func decodeErrors(_ text: String?) throws -> [JobAttemptError] {
        guard let text, !text.isEmpty else { return [] }
        do {
            return try decode([StoredAttemptError].self, text).map {
                JobAttemptError(attempt: $0.attempt, at: date(micros: $0.at), message: $0.message, reason: $0.reason)
            }
        } catch {
            throw corrupt("a job's error history is not valid JSON: \(error)")
        }
    }

    /// `errors` with `added` appended, keeping the newest ``JobAttemptError/historyLimit``.
    public static func appending(_ added: [JobAttemptError], to text: String?) throws -> String {
        var errors = try decodeErrors(text)
        errors.append(contentsOf: added)
        if errors.count > JobAttemptError.historyLimit {
            errors.removeFirst(errors.count - JobAttemptError.historyLimit)
        }
        return try encodeErrors(errors)
    }

    public static func encodeProgress(_ progress: JobProgress?) throws -> String? {
        guard let progress else { return nil }
        let stored = StoredProgress(fraction: progress.fraction, message: progress.message)
        return String(decoding: try JSONEncoder().encode(stored), as: UTF8.self)
    }

    public static func decodeProgress(_ text: String?) throws -> JobProgress? {
        guard let text else { return nil }
        do {
            let stored = try decode(StoredProgress.self, text)
            return JobProgress(fraction: stored.fraction, message: stored.message)
        } catch {
            throw corrupt("a job's progress is not valid JSON: \(error)")
        }
    }

    public static func encodeMetadata(_ metadata: [String: String]) throws -> String? {
        guard !metadata.isEmpty else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(metadata), as: UTF8.self)
    }

    /// `text` as `T`, through ``PayloadDecoder`` (these columns hold no dates, so a plain
    /// `JSONDecoder` is the fallback).
    private static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try PayloadDecoder.decode(T.self, from: Array(text.utf8), orWith: columnDecoder)
    }

    public static func decodeMetadata(_ text: String?) throws -> [String: String] {
        guard let text, !text.isEmpty else { return [:] }
        do {
            return try decode([String: String].self, text)
        } catch {
            throw corrupt("a job's metadata is not a JSON object of strings: \(error)")
        }
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

/// The fallback decoder of the stored columns, one shared instance: decoding is thread-safe,
/// and making a decoder costs about as much as decoding a small value.
private let columnDecoder = JSONDecoder()
