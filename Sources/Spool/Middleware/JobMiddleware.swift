import Foundation
import Logging
import Metrics
import Synchronization

/// Hooks around enqueue and run. Logging and metrics are middleware; add your own for tracing,
/// auditing or tenancy checks.
///
/// A `JobMiddleware` observes: it may change jobs before they are stored and hears how each run
/// ended. To wrap the handler itself (spans, task-locals, a check before running), conform to
/// ``JobRunMiddleware`` as well. Hooks run on the hot path of every job: keep them cheap.
public protocol JobMiddleware: Sendable {
    /// Called before jobs are stored; may change them (add metadata) or throw to refuse the
    /// whole batch (nothing is stored).
    func willEnqueue(_ jobs: inout [NewJob]) async throws

    /// Called once the worker has decided how a run ended, before the outcome is stored.
    func didRun(_ report: JobRunReport)
}

/// A middleware that wraps each run of a handler.
public protocol JobRunMiddleware: JobMiddleware {
    /// Wraps one run. Call `next` to run the handler (or the next middleware); what it returns
    /// or throws decides the outcome.
    func run(
        _ job: ClaimedJob, context: JobContext,
        next: (ClaimedJob, JobContext) async throws -> [UInt8]?
    ) async throws -> [UInt8]?
}

extension JobMiddleware {
    public func willEnqueue(_ jobs: inout [NewJob]) async throws {}
    public func didRun(_ report: JobRunReport) {}
}

/// How one run ended, as middleware hears it.
public struct JobRunReport: Sendable {
    public let job: ClaimedJob
    public let outcome: JobCompletion.Outcome
    /// When the handler started, on the worker's clock.
    public let startedAt: Date
    /// The handler's run time; nil when it never ran (an unknown kind).
    public let duration: Duration?
    /// True when the attempt hit its timeout.
    public let timedOut: Bool

    /// From due to start: how long the job waited for a worker.
    public var queueLatency: TimeInterval { max(0, startedAt.timeIntervalSince(job.runAt)) }
}

extension JobCompletion.Outcome {
    /// A low-cardinality label: succeeded, retried, snoozed, dead, cancelled, handed_back.
    public var label: String {
        switch self {
        case .succeeded: return "succeeded"
        case .retry: return "retried"
        case .snooze: return "snoozed"
        case .dead: return "dead"
        case .cancelled: return "cancelled"
        case .handBack: return "handed_back"
        }
    }
}

/// Logs every run's outcome with `spool.*` metadata: failures at `warning` (dead at `error`)
/// with the error, successes at `debug`.
///
/// The logger's level is read once, when the middleware is made: with it above `debug`, a
/// success costs nothing here.
public struct LoggingMiddleware: JobMiddleware {
    let logger: Logger
    private let logsSuccesses: Bool

    public init(logger: Logger) {
        self.logger = logger
        logsSuccesses = logger.logLevel <= .debug
    }

    public func didRun(_ report: JobRunReport) {
        let job = report.job
        let outcome = report.outcome
        // Successes and snoozes log at debug: skip building metadata when that is off.
        switch outcome {
        case .succeeded, .snooze:
            guard logsSuccesses else { return }
        case .retry, .dead, .cancelled, .handBack:
            break
        }
        let metadata: Logger.Metadata = [
            "spool.job.id": "\(job.id)", "spool.job.kind": "\(job.kind)", "spool.queue": "\(job.queue)",
            "spool.attempt": "\(job.attempt)", "spool.outcome": "\(outcome.label)",
        ]
        switch outcome {
        case .succeeded:
            logger.debug("job succeeded", metadata: metadata)
        case .retry(let at, let error):
            logger.warning(
                "job failed; will retry",
                metadata: metadata.merging([
                    "spool.error": "\(error.message)", "spool.retry_at": "\(at)", "spool.reason": "\(error.reason)",
                ]) { $1 })
        case .dead(let error):
            logger.error(
                "job is dead",
                metadata: metadata.merging([
                    "spool.error": "\(error.message)", "spool.reason": "\(error.reason)",
                ]) { $1 })
        case .snooze(let until):
            logger.debug("job snoozed", metadata: metadata.merging(["spool.run_at": "\(until)"]) { $1 })
        case .cancelled(let reason):
            logger.info("job cancelled", metadata: metadata.merging(["spool.reason": "\(reason)"]) { $1 })
        case .handBack:
            logger.info("job handed back at shutdown", metadata: metadata)
        }
    }
}

/// Reports to swift-metrics: `spool_jobs_total{queue,kind,outcome}`,
/// `spool_job_duration_seconds{queue,kind}`, `spool_queue_latency_seconds{queue}` (due →
/// start), `spool_jobs_enqueued_total{queue,kind}` and `spool_job_timeouts_total{queue,kind}`.
///
/// Labels are bounded, whatever clients name their queues and kinds: the first
/// ``maximumQueueLabels`` queues and ``maximumKindLabels`` kinds seen get label values of their
/// own; later ones (and a queue or kind actually named `other`) are counted under
/// ``otherLabel``. So each metric has at most (101 queues × 201 kinds × 6 outcomes) series,
/// however many names pass through, and the middleware's memory stays bounded too. Counters
/// are never removed (they are cumulative).
///
/// Metric handles are made once per label set and cached, so the per-job cost is one lock and a
/// few dictionary lookups. When no metrics backend is bootstrapped (`MetricsSystem.bootstrap`) at
/// the time the middleware is made, and no `factory` is given, it does nothing at all: bootstrap
/// first.
public final class MetricsMiddleware: JobMiddleware {
    /// The most queue label values besides ``otherLabel``: 100.
    public static let maximumQueueLabels = 100
    /// The most kind label values besides ``otherLabel``: 200.
    public static let maximumKindLabels = 200
    /// The label value of the queues and kinds past the caps.
    public static let otherLabel = "other"

    /// Nil when there is no backend (the metrics system is the no-op default).
    private let factory: (any MetricsFactory)?
    private struct Key: Hashable {
        let queue: String
        let kind: String
        let outcome: String
    }

    private struct State {
        var queues: Set<String> = []
        var kinds: Set<String> = []
        var outcomes: [Key: Counter] = [:]
        var durations: [Key: Timer] = [:]
        var latencies: [String: Timer] = [:]
        var enqueued: [Key: Counter] = [:]
        var timeouts: [Key: Counter] = [:]

        /// `queue`, or ``otherLabel`` past the cap.
        mutating func label(queue: String) -> String {
            Self.admit(queue, into: &queues, cap: MetricsMiddleware.maximumQueueLabels)
        }

        /// `kind`, or ``otherLabel`` past the cap.
        mutating func label(kind: String) -> String {
            Self.admit(kind, into: &kinds, cap: MetricsMiddleware.maximumKindLabels)
        }

        private static func admit(_ value: String, into admitted: inout Set<String>, cap: Int) -> String {
            if admitted.contains(value) { return value }
            guard admitted.count < cap, value != MetricsMiddleware.otherLabel else { return MetricsMiddleware.otherLabel }
            admitted.insert(value)
            return value
        }
    }

    private let state = Mutex(State())

    /// A middleware reporting to `factory`, or when nil to the process-wide `MetricsSystem`
    /// (nothing at all when that is not bootstrapped yet).
    public init(factory: (any MetricsFactory)? = nil) {
        if let factory {
            self.factory = factory
        } else {
            self.factory = MetricsSystem.factory is NOOPMetricsHandler ? nil : MetricsSystem.factory
        }
    }

    public func willEnqueue(_ jobs: inout [NewJob]) async throws {
        guard let factory else { return }
        let counters = state.withLock { state in
            jobs.map { job in
                let queue = state.label(queue: job.queue)
                let kind = state.label(kind: job.kind)
                return Self.cached(&state.enqueued, Key(queue: queue, kind: kind, outcome: "")) {
                    Counter(label: "spool_jobs_enqueued_total", dimensions: [("queue", queue), ("kind", kind)], factory: factory)
                }
            }
        }
        for counter in counters { counter.increment() }
    }

    public func didRun(_ report: JobRunReport) {
        guard let factory else { return }
        let job = report.job
        let outcome = report.outcome.label
        let (latency, counter, duration, timeout) = state.withLock { state in
            let queue = state.label(queue: job.queue)
            let kind = state.label(kind: job.kind)
            let key = Key(queue: queue, kind: kind, outcome: "")
            let latency =
                report.duration == nil
                ? nil
                : Self.cached(&state.latencies, queue) {
                    Timer(
                        label: "spool_queue_latency_seconds", dimensions: [("queue", queue)], preferredDisplayUnit: .seconds,
                        factory: factory)
                }
            let counter = Self.cached(&state.outcomes, Key(queue: queue, kind: kind, outcome: outcome)) {
                Counter(label: "spool_jobs_total", dimensions: [("queue", queue), ("kind", kind), ("outcome", outcome)], factory: factory)
            }
            let duration =
                report.duration == nil
                ? nil
                : Self.cached(&state.durations, key) {
                    Timer(
                        label: "spool_job_duration_seconds", dimensions: [("queue", queue), ("kind", kind)], preferredDisplayUnit: .seconds,
                        factory: factory)
                }
            let timeout =
                !report.timedOut
                ? nil
                : Self.cached(&state.timeouts, key) {
                    Counter(label: "spool_job_timeouts_total", dimensions: [("queue", queue), ("kind", kind)], factory: factory)
                }
            return (latency, counter, duration, timeout)
        }
        // A run_at centuries back must not trap: the nanoseconds saturate.
        latency?.recordNanoseconds(Int64(saturating: report.queueLatency * 1e9))
        counter.increment()
        if let duration, let elapsed = report.duration { duration.record(duration: elapsed) }
        timeout?.increment()
    }

    private static func cached<K: Hashable, M>(_ cache: inout [K: M], _ key: K, make: () -> M) -> M {
        if let metric = cache[key] { return metric }
        let metric = make()
        cache[key] = metric
        return metric
    }
}
