import Foundation

/// How every driver reads a stored value back into the job model, treating the store as
/// hostile (a corrupt file, a row edited by hand, a broken or hostile server): a number or time
/// out of its documented range saturates to the nearest bound, so reading never traps and a
/// job with one bad field stays readable, claimable and finishable.
///
/// The bounds are those ``JobInput`` enforces on the way in, so a value written through Spool
/// reads back unchanged. Each function is a compare or two and allocates nothing: they are on
/// the claim path.
package enum StoredValue {
    /// The largest attempt or count read back: 2^31 − 1, so `+ 1` never overflows anywhere.
    package static let maximumCount = Int(Int32.max)

    /// A stored priority, clamped to ``JobInput/priorityRange``.
    package static func priority(_ value: Int64) -> Int {
        Int(min(max(value, Int64(JobInput.priorityRange.lowerBound)), Int64(JobInput.priorityRange.upperBound)))
    }

    /// A stored attempt number, clamped to 0 ... ``maximumCount``.
    package static func attempt(_ value: Int64) -> Int {
        Int(min(max(value, 0), Int64(maximumCount)))
    }

    /// A stored budget of attempts, clamped to 1 ... ``JobInput/maximumAttempts``.
    package static func maxAttempts(_ value: Int64) -> Int {
        Int(min(max(value, 1), Int64(JobInput.maximumAttempts)))
    }

    /// A stored count (expired leases), clamped to 0 ... ``maximumCount``.
    package static func count(_ value: Int64) -> Int {
        attempt(value)
    }

    /// ``JobInput/earliestRunAt`` and ``JobInput/latestRunAt`` in microseconds.
    static let microsRange: ClosedRange<Int64> = 0...253_402_300_799_999_000

    /// A stored time in microseconds since 1970, clamped to ``JobInput/earliestRunAt`` ...
    /// ``JobInput/latestRunAt`` (years 1970 to 9999, which every driver and every RFC 3339
    /// formatter handles).
    package static func date(micros: Int64) -> Date {
        Date(timeIntervalSince1970: Double(min(max(micros, microsRange.lowerBound), microsRange.upperBound)) / 1_000_000)
    }

    /// A stored time in milliseconds since 1970, clamped like ``date(micros:)``.
    package static func date(millis: Int64) -> Date {
        Date(timeIntervalSince1970: Double(min(max(millis, 0), microsRange.upperBound / 1000)) / 1000)
    }

    /// ``JobInput/maximumDuration`` in microseconds.
    static let maximumDurationMicros = JobInput.maximumDuration.components.seconds * 1_000_000

    /// A stored timeout in microseconds, clamped to 1 µs ... ``JobInput/maximumDuration``.
    package static func timeout(micros: Int64) -> Duration {
        .microseconds(min(max(micros, 1), maximumDurationMicros))
    }

    /// A stored timeout in nanoseconds, clamped to 1 ns ... ``JobInput/maximumDuration``.
    package static func timeout(nanos: Int64) -> Duration {
        .nanoseconds(min(max(nanos, 1), maximumDurationMicros * 1000))
    }

    /// What an error history that cannot be read reads as: one entry (attempt 0, at
    /// ``JobInput/earliestRunAt``, reason `unreadable`) whose message holds the first 200
    /// characters of what was stored, so nothing an operator could use is hidden.
    package static func unreadableErrors(_ stored: String) -> [JobAttemptError] {
        [
            JobAttemptError(
                attempt: 0, at: JobInput.earliestRunAt,
                message: "the stored error history could not be read; it began: \(stored.prefix(200))", reason: "unreadable"
            )
        ]
    }

    /// `bytes` (a stored JSON column) as `T`, through ``PayloadDecoder``, with one shared
    /// `JSONDecoder` as its fallback (these columns hold no dates).
    /// - Throws: the fallback's error when `bytes` are not a `T`.
    package static func decodeJSON<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        try PayloadDecoder.decode(T.self, from: bytes, orWith: columnDecoder)
    }
}

/// The fallback decoder of the stored columns, one shared instance: decoding is thread-safe,
/// and making a decoder costs about as much as decoding a small value.
private let columnDecoder = JSONDecoder()
