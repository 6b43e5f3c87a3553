import Foundation

/// Flow control for one queue, kept by the storage and enforced by its claims, so it holds
/// across every worker process that shares the storage.
///
/// - ``maxRunning``: at most this many of the queue's jobs `running` at once, cluster-wide (a
///   global concurrency limit, on top of each worker's own per-queue limit).
/// - ``rate``: at most `count` of the queue's jobs started (claimed) in any sliding window of
///   `period`. Every claim counts, retries included.
///
/// A claim that meets a limit returns fewer jobs (or none) for that queue; the jobs stay
/// `available` and are handed out once a running job of the queue finishes or the window moves
/// on. Workers idle meanwhile without polling the queue: a driver's `waitForWork` treats a
/// queue at its limit like an empty one and wakes when the limit reopens (at the window's
/// next opening; for `maxRunning`, at a finish in this process or the driver's next poll).
///
/// To limit one job kind, give it a queue of its own.
public struct QueueLimits: Sendable, Hashable, Codable, CustomStringConvertible {
    /// At most `count` starts in any window of `period`.
    public struct Rate: Sendable, Hashable, Codable, CustomStringConvertible {
        /// Starts allowed per window; at least 1.
        public var count: Int
        /// The sliding window; at least one millisecond.
        public var period: Duration

        public init(count: Int, period: Duration) {
            self.count = count
            self.period = period
        }

        /// `10/1m`-style text: count, a slash, then the period in the largest whole unit.
        public var description: String { "\(count)/\(Self.format(period))" }

        static func format(_ period: Duration) -> String {
            let ms = period.milliseconds
            for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] where ms % Int64(size) == 0 {
                return "\(ms / Int64(size))\(unit)"
            }
            return "\(ms)ms"
        }

        /// Parses `COUNT/PERIOD`, where PERIOD is a number with a unit (`ms`, `s`, `m`, `h`, `d`)
        /// or a bare unit meaning one of it: `100/s`, `10/1m`, `5/30s`, `1000/1h`.
        /// - Throws: ``SpoolError`` `invalidArgument` naming what is wrong.
        public init(parsing text: String) throws {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let count = Int(parts[0].trimmingCharacters(in: .whitespaces)) else {
                throw SpoolError(code: .invalidArgument, message: "rate '\(text)' is not COUNT/PERIOD, like 100/s or 10/1m")
            }
            let period = parts[1].trimmingCharacters(in: .whitespaces)
            let digits = period.prefix { $0.isNumber }
            let unit = period.dropFirst(digits.count)
            let amount = digits.isEmpty ? 1 : Int64(digits)
            let size: Int64? =
                switch unit {
                case "ms": 1
                case "s": 1_000
                case "m": 60_000
                case "h": 3_600_000
                case "d": 86_400_000
                default: nil
                }
            guard let amount, let size, amount > 0, amount <= Int64.max / size / 1_000_000 else {
                throw SpoolError(
                    code: .invalidArgument, message: "rate period '\(period)' is not a positive number with a unit (ms, s, m, h, d)")
            }
            self.init(count: count, period: .milliseconds(amount * size))
            try validate()
        }

        func validate() throws {
            guard count >= 1, count <= QueueLimits.maximum else {
                throw SpoolError(
                    code: .invalidArgument, message: "a rate allows 1 to \(QueueLimits.maximum) starts per period, not \(count)")
            }
            guard period >= .milliseconds(1) else {
                throw SpoolError(code: .invalidArgument, message: "a rate period is at least 1 ms, not \(period)")
            }
        }
    }

    /// At most this many of the queue's jobs running at once across every worker; nil for no
    /// limit. At least 1 (pause the queue to stop it).
    public var maxRunning: Int?
    /// At most this many starts per sliding window; nil for no limit.
    public var rate: Rate?

    public init(maxRunning: Int? = nil, rate: Rate? = nil) {
        self.maxRunning = maxRunning
        self.rate = rate
    }

    /// The largest count a limit may have (what a 32-bit database column holds).
    public static let maximum = Int(Int32.max)

    /// Limits as a store read them back, clamped to what ``validate()`` accepts (counts 1 to
    /// ``maximum``, a period of 1 ms to 100 years), so a corrupt row limits the queue within
    /// range instead of trapping the arithmetic of a claim.
    package static func stored(maxRunning: Int64?, rateCount: Int64?, period: Duration?) -> QueueLimits {
        let count = { (value: Int64) in Int(min(max(value, 1), Int64(maximum))) }
        var rate: Rate? = nil
        if let rateCount, let period {
            rate = Rate(count: count(rateCount), period: min(max(period, .milliseconds(1)), JobInput.maximumDuration))
        }
        return QueueLimits(maxRunning: maxRunning.map(count), rate: rate)
    }

    /// No limits: what a queue has until told otherwise.
    public static let none = QueueLimits()

    /// True when neither limit is set.
    public var isNone: Bool { maxRunning == nil && rate == nil }

    public var description: String {
        var parts: [String] = []
        if let maxRunning { parts.append("at most \(maxRunning) running") }
        if let rate { parts.append("\(rate) starts") }
        return parts.isEmpty ? "no limits" : parts.joined(separator: ", ")
    }

    /// Checks the limits are meaningful.
    /// - Throws: ``SpoolError`` `invalidArgument` naming the wrong value.
    public func validate() throws {
        if let maxRunning, maxRunning < 1 || maxRunning > Self.maximum {
            throw SpoolError(
                code: .invalidArgument, message: "max running is 1 to \(Self.maximum), not \(maxRunning) (pause the queue to stop it)")
        }
        try rate?.validate()
    }
}

/// How a claim may use one limited queue right now: the arithmetic every driver shares, so
/// the memory, SQLite, PostgreSQL and Redis drivers agree on what a limit allows.
package struct QueueAllowance: Sendable, Hashable {
    /// Jobs the claim may start in the queue now (0 when it is at a limit).
    package var jobs: Int
    /// When the queue is at its rate limit: the moment the oldest start in the window leaves it.
    package var reopensAt: Date?

    /// - Parameters:
    ///   - limits: the queue's limits.
    ///   - running: the queue's jobs running now (all workers).
    ///   - startsInWindow: the queue's starts in the window ending now, oldest first, with
    ///     their times and counts.
    package init(limits: QueueLimits, running: Int, startsInWindow: [(at: Date, count: Int)]) {
        var jobs = Int.max
        var reopensAt: Date? = nil
        if let maxRunning = limits.maxRunning {
            // `running` comes from a store: a corrupt count below zero counts as none.
            jobs = max(0, maxRunning - min(max(0, running), maxRunning))
        }
        if let rate = limits.rate {
            var used = startsInWindow.reduce(0) { sum, start in
                let (total, overflow) = sum.addingReportingOverflow(max(0, start.count))
                return overflow ? .max : total
            }
            jobs = min(jobs, max(0, rate.count - min(used, rate.count)))
            // Full: the window reopens when enough of its oldest starts have left it.
            for start in startsInWindow where used >= rate.count {
                used -= min(used, max(0, start.count))
                reopensAt = start.at.adding(rate.period)
            }
        }
        self.jobs = jobs
        self.reopensAt = reopensAt
    }
}

extension Duration {
    /// Whole milliseconds, rounded down, saturating at `Int64.min` and `Int64.max`.
    package var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (millis, overflow) = seconds.multipliedReportingOverflow(by: 1_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, carry) = millis.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        return carry ? (millis < 0 ? .min : .max) : total
    }
}
