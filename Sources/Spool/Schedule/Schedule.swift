import Foundation

/// A job to enqueue at every tick of a schedule, and when those ticks are.
///
/// ```swift
/// let nightly = PeriodicSchedule(
///     "nightly-report",
///     .cron(try CronExpression("30 2 * * *"), in: TimeZone(identifier: "Europe/Berlin")!),
///     job: ScheduledJob(BuildReport(scope: "daily"), queue: "reports")
/// )
/// let heartbeat = PeriodicSchedule("heartbeat", .every(.seconds(30)), job: ScheduledJob(Ping()))
/// ```
/// A ``PeriodicScheduler`` enqueues each tick as one job whose unique key is
/// ``uniqueKey(forTick:)``, so schedulers in several processes collapse a tick into one live job.
public struct PeriodicSchedule: Sendable {
    /// Names the schedule in logs, listings and unique keys; unique within a scheduler, and the
    /// same in every process that runs the schedule (the key is built from it).
    public var name: String
    /// When the ticks are.
    public var timing: Timing
    /// What each tick enqueues.
    public var job: ScheduledJob
    /// What to do when more than one tick came due since the last one fired.
    public var missedTicks: MissedTickPolicy

    public init(_ name: String, _ timing: Timing, job: ScheduledJob, missedTicks: MissedTickPolicy = .skip) {
        self.name = name
        self.timing = timing
        self.job = job
        self.missedTicks = missedTicks
    }

    /// The unique key of the job for the tick at `tick`: `schedule:<name>:<milliseconds since
    /// 1970>`. The same in every process, so a tick enqueued twice (two schedulers, a leader
    /// change) is stored once while its job is live (scheduled, available or running).
    public func uniqueKey(forTick tick: Date) -> String {
        "schedule:\(name):\(Int64(saturating: (tick.timeIntervalSince1970 * 1000).rounded()))"
    }

    /// The id of the job for the tick at `tick`: its time part is the tick, the rest a stable
    /// hash of ``uniqueKey(forTick:)``, so every process makes the same id for the same tick and
    /// storage refuses a second job for it (a job id is stored once) for as long as the first job
    /// is kept, finished or not.
    public func jobID(forTick tick: Date) -> JobID {
        let key = Array(uniqueKey(forTick: tick).utf8)
        // Two FNV-1a 64 passes with different offsets: stable across processes and versions
        // (unlike Hasher, which is seeded per process).
        func fnv(_ offset: UInt64) -> UInt64 {
            key.reduce(offset) { ($0 ^ UInt64($1)) &* 0x0000_0100_0000_01B3 }
        }
        let millis = UInt64(max(0, Int64(saturating: (tick.timeIntervalSince1970 * 1000).rounded()))) & 0xFFFF_FFFF_FFFF
        return JobID(high: millis << 16 | (fnv(0x84222325_CBF29CE4) & 0xFFFF), low: fnv(0xCBF2_9CE4_8422_2325))
    }

    /// The next `count` ticks after `date`, in order. Cost: `count` steps of ``Timing/next(after:)``.
    public func upcoming(after date: Date, count: Int) -> [Date] {
        var ticks: [Date] = []
        var last = date
        while ticks.count < count, let tick = timing.next(after: last) {
            ticks.append(tick)
            last = tick
        }
        return ticks
    }
}

extension PeriodicSchedule {
    /// When a schedule's ticks are: cron wall-clock times in a time zone, or a fixed interval.
    public struct Timing: Sendable, CustomStringConvertible {
        enum Value: Sendable {
            case cron(CronExpression, TimeZone)
            case every(Duration, anchor: Date)
        }
        let value: Value

        /// Ticks at the times `expression` selects on the wall clock of `timeZone` (UTC by
        /// default); see ``CronExpression/next(after:in:)`` for daylight-saving changes.
        public static func cron(_ expression: CronExpression, in timeZone: TimeZone = .gmt) -> Timing {
            Timing(value: .cron(expression, timeZone))
        }

        /// Ticks every `interval`, at `anchor + n × interval` for every whole `n` (by default
        /// aligned on 1970-01-01T00:00:00Z, so `.every(.minutes(5))` ticks at :00, :05, ... UTC in
        /// every process alike). The interval must be positive (a scheduler refuses others).
        public static func every(_ interval: Duration, anchor: Date = Date(timeIntervalSince1970: 0)) -> Timing {
            Timing(value: .every(interval, anchor: anchor))
        }

        /// The first tick strictly after `date`; nil when there is none (a cron expression near
        /// the end of the calendar, or a non-positive interval).
        public func next(after date: Date) -> Date? {
            switch value {
            case .cron(let expression, let timeZone):
                return expression.next(after: date, in: timeZone)
            case .every(let interval, let anchor):
                let seconds = interval.seconds
                guard seconds > 0 else { return nil }
                var count = ((date.timeIntervalSince(anchor)) / seconds).rounded(.down) + 1
                var tick = anchor.addingTimeInterval(count * seconds)
                while tick <= date {
                    count += 1
                    tick = anchor.addingTimeInterval(count * seconds)
                }
                return tick
            }
        }

        /// The last tick at or before `date` and after `lower`, or nil if there is none.
        ///
        /// Cost: constant for an interval; for a cron expression, a doubling search back from
        /// `date` (about log₂ of the distance to that tick calls of ``next(after:)``) and then
        /// one call per tick in the window found.
        public func latest(atOrBefore date: Date, after lower: Date) -> Date? {
            guard lower < date else { return nil }
            if case .every(let interval, let anchor) = value {
                let seconds = interval.seconds
                guard seconds > 0 else { return nil }
                var count = (date.timeIntervalSince(anchor) / seconds).rounded(.down)
                if anchor.addingTimeInterval(count * seconds) > date { count -= 1 }
                let tick = anchor.addingTimeInterval(count * seconds)
                return tick > lower ? tick : nil
            }
            var window = 1.0
            while true {
                let from = max(lower, date.addingTimeInterval(-window))
                if var last = next(after: from), last <= date {
                    while let tick = next(after: last), tick <= date { last = tick }
                    return last
                }
                if from == lower { return nil }
                window *= 2
            }
        }

        public var description: String {
            switch value {
            case .cron(let expression, let timeZone): "cron '\(expression)' in \(timeZone.identifier)"
            case .every(let interval, _): "every \(interval)"
            }
        }
    }
}

/// What a schedule does when more than one tick came due since it last fired (the process was
/// suspended, the enqueue kept failing, the clock jumped).
public struct MissedTickPolicy: Sendable, Hashable, CustomStringConvertible {
    enum Value: Sendable, Hashable { case skip, catchUpOnce }
    let value: Value

    /// Missed ticks are not run; the next run is the next tick after now. (Oban's and
    /// cron's behaviour.) The default.
    public static let skip = MissedTickPolicy(value: .skip)
    /// One job runs for all the missed ticks (keyed and timed by the latest of them), then the
    /// schedule goes on as usual.
    public static let catchUpOnce = MissedTickPolicy(value: .catchUpOnce)

    public var description: String {
        switch value {
        case .skip: "skip"
        case .catchUpOnce: "catch up once"
        }
    }
}

/// The job a schedule enqueues at each tick: kind and payload, and the options that differ from
/// the kind's registered defaults (as ``EnqueueOptions`` do for a one-off enqueue).
public struct ScheduledJob: Sendable {
    /// The registered job name.
    public var kind: String
    /// The same payload at every tick (the tick time is in the job's metadata,
    /// `spool.schedule.tick`, as RFC 3339 UTC).
    public var payload: JobPayload
    /// Default: the kind's registered queue, else `default`.
    public var queue: String?
    /// Default: the kind's registered priority, else 0.
    public var priority: Int?
    /// Default: the kind's registered max attempts, else 20.
    public var maxAttempts: Int?
    /// Default: the kind's registered timeout.
    public var timeout: Duration?
    /// Carried with every job (the scheduler adds `spool.schedule` and `spool.schedule.tick`).
    public var metadata: [String: String]

    /// A job of `kind` with a raw payload (JSON bytes, for kinds without a Swift type).
    public init(
        kind: String, payload: [UInt8] = Array("{}".utf8), queue: String? = nil, priority: Int? = nil,
        maxAttempts: Int? = nil, timeout: Duration? = nil, metadata: [String: String] = [:]
    ) {
        self.init(
            kind: kind, payload: JobPayload(bytes: payload), queue: queue, priority: priority, maxAttempts: maxAttempts, timeout: timeout,
            metadata: metadata)
    }

    /// A job with typed parameters (encoded when a durable driver stores it).
    public init<P: JobParameters>(
        _ parameters: P, queue: String? = nil, priority: Int? = nil, maxAttempts: Int? = nil,
        timeout: Duration? = nil, metadata: [String: String] = [:]
    ) {
        self.init(
            kind: P.kind, payload: JobPayload(value: parameters), queue: queue, priority: priority, maxAttempts: maxAttempts,
            timeout: timeout, metadata: metadata)
    }

    init(
        kind: String, payload: JobPayload, queue: String?, priority: Int?, maxAttempts: Int?, timeout: Duration?,
        metadata: [String: String]
    ) {
        self.kind = kind
        self.payload = payload
        self.queue = queue
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.timeout = timeout
        self.metadata = metadata
    }
}
