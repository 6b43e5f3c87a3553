import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Whether this process may perform a cluster-wide duty (enqueuing schedules' ticks) now.
///
/// The PostgreSQL and Redis drivers' leader elections answer it; ``AlwaysLeader`` answers it for
/// a single process. Read once per round of the duty, so it must be cheap (no I/O) and may
/// change between reads.
public protocol LeadershipGate: Sendable {
    /// True while this process holds the duty.
    var isLeader: Bool { get }
}

/// Always the leader: for a single process, or when every process may enqueue (the ticks' unique
/// keys then collapse duplicates while the tick's job is live).
public struct AlwaysLeader: LeadershipGate {
    public init() {}

    public var isLeader: Bool { true }
}

extension LeadershipGate where Self == AlwaysLeader {
    /// This process is always the leader.
    public static var always: AlwaysLeader { AlwaysLeader() }
}

/// Enqueues the jobs of periodic schedules at their ticks: a swift-service-lifecycle `Service`.
///
/// ```swift
/// let scheduler = try PeriodicScheduler(storage: storage, schedules: [nightly, heartbeat], leadership: election)
/// let services = ServiceGroup(services: [worker, scheduler], logger: logger)
/// ```
///
/// How ticks fire:
/// - The scheduler sleeps (on its ``JobClock``) until the earliest next tick of any schedule,
///   then enqueues each due tick as one job with run-at time the tick, the id
///   ``PeriodicSchedule/jobID(forTick:)`` and the unique key
///   ``PeriodicSchedule/uniqueKey(forTick:)``. Schedulers in several processes (or an old and a
///   new leader) that enqueue the same tick therefore store one job: storage refuses a second
///   job with the same id for as long as the first is kept (until pruned).
/// - Only while ``LeadershipGate/isLeader`` holds (read once per round). A process that is not
///   the leader lets the due ticks pass as the leader's, so on becoming leader it starts with
///   the ticks after its last round, and never replays ticks the old leader handled.
/// - The last tick is remembered in memory, per process, starting from the time ``run()``
///   starts: a restart never replays ticks that passed while the process was down.
/// - When more than one tick is due at once (a suspended process, a clock jump, enqueues that
///   kept failing past the next tick), the schedule's ``MissedTickPolicy`` applies: `.skip` runs
///   none of them and goes on with the next tick after now; `.catchUpOnce` runs one job for
///   them all, keyed by the latest. A single late tick always runs.
/// - A failed enqueue (storage down, a full bounded queue: the scheduler never waits for space)
///   is logged at warning level and retried at the next round, after 1 s, doubling to 60 s; the
///   tick stays due meanwhile. Each enqueue is logged at debug level.
///
/// Guarantee: one job per schedule and tick, across processes, for as long as the stores keep
/// finished jobs (the retention; 7 days by default): the tick's deterministic id makes a
/// second enqueue of it fail, which the scheduler reads as "already enqueued". So several
/// processes with ``AlwaysLeader`` (on one SQLite file, say) fire each tick once too; the
/// leader election only saves the others the work.
///
/// Cost: one storage enqueue per tick and schedule; between ticks, one sleep.
public final class PeriodicScheduler: Service, Sendable {
    /// The schedules, in the order given.
    public let schedules: [PeriodicSchedule]
    let client: SpoolClient
    let leadership: any LeadershipGate
    let logger: Logger
    /// Per schedule, the last tick handled and the one after it; nil until ``run()`` starts.
    private let tracked = Mutex<[Tracked]?>(nil)

    struct Tracked: Sendable {
        var last: Date
        var next: Date?
    }

    /// A scheduler for `schedules`.
    ///
    /// - Parameters:
    ///   - storage: where the ticks' jobs are enqueued.
    ///   - schedules: the schedules to run; their names must be non-empty and distinct.
    ///   - leadership: gates the enqueues; default: always the leader (single process).
    ///   - registry: supplies each kind's defaults (queue, priority, attempts, timeout) where the
    ///     schedule's job leaves them out.
    ///   - clock: read for tick times and slept on between ticks.
    ///   - middleware: they wrap every enqueue of a tick. Default: tracing when a tracer is
    ///     bootstrapped (``TracingMiddleware/bootstrapped``: each tick's job gets a producer
    ///     span, the root of its trace, and its runs continue it), and metrics.
    ///   - logger: for start and stop, missed ticks, ticks enqueued and failed enqueues.
    /// - Throws: ``SpoolError`` `invalidArgument` for an empty or repeated schedule name, a
    ///   non-positive interval, or a job that storage would refuse (empty kind or queue,
    ///   attempts below one, a non-positive timeout).
    public init(
        storage: any JobStorage, schedules: [PeriodicSchedule], leadership: any LeadershipGate = AlwaysLeader(),
        registry: JobRegistry = JobRegistry(), clock: any JobClock = SystemClock(),
        middleware: [any JobMiddleware] = TracingMiddleware.bootstrapped + [MetricsMiddleware()],
        logger: Logger = Logger(label: "spool.scheduler")
    ) throws {
        var names: Set<String> = []
        for schedule in schedules {
            guard !schedule.name.isEmpty else { throw SpoolError.invalid("a schedule's name must not be empty") }
            guard names.insert(schedule.name).inserted else {
                throw SpoolError.invalid("two schedules are named '\(schedule.name)'; names must be unique (they key the ticks' jobs)")
            }
            if case .every(let interval, _) = schedule.timing.value, interval <= .zero {
                throw SpoolError.invalid("schedule '\(schedule.name)' has a non-positive interval (\(interval))")
            }
        }
        self.schedules = schedules
        self.client = SpoolClient(storage: storage, registry: registry, clock: clock, middleware: middleware)
        self.leadership = leadership
        self.logger = logger
        for schedule in schedules {
            try job(for: schedule, tick: clock.now, now: clock.now).validate()
        }
    }

    /// Enqueues ticks until graceful shutdown or cancellation; never throws.
    public func run() async throws {
        let start = client.clock.now
        tracked.withLock { tracked in
            tracked = schedules.map { Tracked(last: start, next: $0.timing.next(after: start)) }
        }
        logger.info("scheduler started", metadata: ["spool.schedules": "\(schedules.map(\.name).joined(separator: ","))"])
        await cancelWhenGracefulShutdown {
            var retryDelay = Self.firstRetryDelay
            while !Task.isCancelled {
                let now = self.client.clock.now
                let failed = await self.fireDueTicks(now: now)
                var wake = self.earliestTick(after: now) ?? .distantFuture
                if failed {
                    wake = min(wake, now.adding(retryDelay))
                    retryDelay = min(retryDelay * 2, .seconds(60))
                } else {
                    retryDelay = Self.firstRetryDelay
                }
                do {
                    try await self.client.clock.sleep(until: wake)
                } catch {
                    return
                }
            }
        }
        logger.info("scheduler stopped")
    }

    private static let firstRetryDelay = Duration.seconds(1)

    /// The next `count` runs of all schedules, earliest first (ties by schedule name): from the
    /// last tick handled (so a tick whose enqueue is being retried shows, in the past), or from
    /// now before ``run()``. Cost: `count` tick computations per schedule.
    public func upcoming(count: Int) -> [(schedule: String, at: Date)] {
        let now = client.clock.now
        let lasts = tracked.withLock { $0?.map(\.last) }
        var runs: [(schedule: String, at: Date)] = []
        for (index, schedule) in schedules.enumerated() {
            let from = lasts.map { min($0[index], now) } ?? now
            runs += schedule.upcoming(after: from, count: count).map { (schedule.name, $0) }
        }
        runs.sort { ($0.at, $0.schedule) < ($1.at, $1.schedule) }
        return Array(runs.prefix(max(0, count)))
    }

    // MARK: Rounds

    /// Enqueues what is due at `now`; returns true when an enqueue failed (to retry soon).
    private func fireDueTicks(now: Date) async -> Bool {
        let leader = leadership.isLeader
        var failed = false
        for (index, schedule) in schedules.enumerated() {
            guard let first = tracked.withLock({ $0?[index].next }), first <= now else { continue }
            guard leader else {
                handled(index, through: now)
                continue
            }
            var tick = first
            if let second = schedule.timing.next(after: first), second <= now {
                switch schedule.missedTicks.value {
                case .skip:
                    logger.notice(
                        "missed ticks are skipped",
                        metadata: [
                            "spool.schedule": "\(schedule.name)", "spool.schedule.missed_from": "\(Self.format(first))",
                            "spool.schedule.next": "\(schedule.timing.next(after: now).map(Self.format) ?? "none")",
                        ])
                    handled(index, through: now)
                    continue
                case .catchUpOnce:
                    tick = schedule.timing.latest(atOrBefore: now, after: first) ?? second
                    logger.notice(
                        "missed ticks are caught up by one job",
                        metadata: [
                            "spool.schedule": "\(schedule.name)", "spool.schedule.missed_from": "\(Self.format(first))",
                            "spool.schedule.tick": "\(Self.format(tick))",
                        ])
                }
            }
            let job = self.job(for: schedule, tick: tick, now: now)
            do {
                let handle = try await client.enqueue([job], whenFull: .fail)[0]
                handled(index, through: tick)
                logger.debug(
                    "\(handle.existing ? "tick already enqueued" : "tick enqueued")",
                    metadata: [
                        "spool.schedule": "\(schedule.name)", "spool.schedule.tick": "\(Self.format(tick))",
                        "spool.job.id": "\(handle.id)", "spool.job.kind": "\(job.kind)", "spool.queue": "\(job.queue)",
                    ])
            } catch {
                if (try? await client.storage.job(job.id)) != nil {
                    // Another process enqueued this tick first (the same id): it is handled.
                    handled(index, through: tick)
                    logger.debug(
                        "tick already enqueued by another process",
                        metadata: [
                            "spool.schedule": "\(schedule.name)", "spool.schedule.tick": "\(Self.format(tick))",
                            "spool.job.id": "\(job.id)",
                        ])
                    continue
                }
                failed = true
                logger.warning(
                    "enqueueing a schedule's tick failed; retrying",
                    metadata: [
                        "spool.schedule": "\(schedule.name)", "spool.schedule.tick": "\(Self.format(tick))",
                        "spool.error": "\(error)",
                    ])
            }
        }
        return failed
    }

    /// Marks the ticks of schedule `index` up to `date` as handled.
    private func handled(_ index: Int, through date: Date) {
        let next = schedules[index].timing.next(after: date)
        tracked.withLock { tracked in
            tracked?[index] = Tracked(last: date, next: next)
        }
    }

    /// The earliest tick after `now` of any schedule.
    private func earliestTick(after now: Date) -> Date? {
        tracked.withLock { tracked in
            tracked?.compactMap { $0.next.flatMap { $0 > now ? $0 : nil } }.min()
        }
    }

    /// The job for `schedule`'s tick at `tick`, with the registered defaults filled in.
    private func job(for schedule: PeriodicSchedule, tick: Date, now: Date) -> NewJob {
        let template = schedule.job
        let defaults = client.registry.job(kind: template.kind)?.options
        var metadata = template.metadata
        metadata["spool.schedule"] = schedule.name
        metadata["spool.schedule.tick"] = Self.format(tick)
        return NewJob(
            id: schedule.jobID(forTick: tick), queue: template.queue ?? defaults?.queue ?? "default", kind: template.kind,
            payload: template.payload, priority: template.priority ?? defaults?.priority ?? 0,
            maxAttempts: template.maxAttempts ?? defaults?.maxAttempts ?? 20, runAt: tick, createdAt: now,
            uniqueKey: schedule.uniqueKey(forTick: tick), timeout: template.timeout ?? defaults?.timeout, metadata: metadata
        )
    }

    private static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

    private static func format(_ date: Date) -> String {
        date.formatted(timeFormat)
    }
}
