import Foundation

/// The wall clock Spool reads and sleeps on: injected everywhere time matters (run-at times,
/// backoff, leases, timeouts, schedules) so tests can drive it by hand.
public protocol JobClock: Sendable {
    /// The current time.
    var now: Date { get }
    /// Suspends until `deadline` (returns at once if it has passed).
    /// - Throws: `CancellationError` when the task is cancelled first.
    func sleep(until deadline: Date) async throws
}

extension JobClock {
    /// Suspends for `duration` from now.
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: now.adding(duration))
    }
}

/// The real clock: `Date()` for now, and a monotonic sleep for the remaining interval.
public struct SystemClock: JobClock {
    public init() {}

    public var now: Date { Date() }

    public func sleep(until deadline: Date) async throws {
        let interval = deadline.timeIntervalSinceNow
        if interval <= 0 {
            try Task.checkCancellation()
            return
        }
        try await Task.sleep(for: Duration(saturatingSeconds: interval), tolerance: .zero, clock: .continuous)
    }
}

extension JobClock where Self == SystemClock {
    /// The real clock.
    public static var system: SystemClock { SystemClock() }
}

extension Date {
    /// This date moved by `duration`, saturating at the ends of the range of run-at times
    /// (``JobInput/earliestRunAt`` and ``JobInput/latestRunAt``): a retry or snooze of a
    /// thousand years is stored as 9999-12-31, never as a time a store cannot hold.
    package func adding(_ duration: Duration) -> Date {
        let moved = addingTimeInterval(duration.seconds)
        if duration > .zero, moved > JobInput.latestRunAt { return max(self, JobInput.latestRunAt) }
        if duration < .zero, moved < JobInput.earliestRunAt { return min(self, JobInput.earliestRunAt) }
        return moved
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    package var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

extension Int64 {
    /// `value` rounded toward zero, saturating at `Int64.min` and `Int64.max`; 0 for NaN. For
    /// times and durations computed from user or stored values, which must never trap.
    package init(saturating value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= 9_223_372_036_854_775_807.0 {
            self = .max
        } else if value <= -9_223_372_036_854_775_808.0 {
            self = .min
        } else {
            self = Int64(value)
        }
    }
}

extension Duration {
    /// `seconds` as a duration to the nanosecond, saturating at about ±292 years; zero for NaN.
    package init(saturatingSeconds seconds: Double) {
        self = .nanoseconds(Int64(saturating: (seconds * 1e9).rounded()))
    }
}
