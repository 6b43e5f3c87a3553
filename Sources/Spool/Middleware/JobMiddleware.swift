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
            logger.warning("job failed; will retry", metadata: metadata.merging([
                "spool.error": "\(error.message)", "spool.retry_at": "\(at)", "spool.reason": "\(error.reason)",
            ]) { $1 })
        case .dead(let error):
            logger.error("job is dead", metadata: metadata.merging([
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
/// Metric handles are made once per label set and cached, so the per-job cost is one lock and a
/// dictionary lookup. When no metrics backend is bootstrapped (`MetricsSystem.bootstrap`) at the
/// time the middleware is made, it does nothing at all: bootstrap first.
public final class MetricsMiddleware: JobMiddleware {
    /// False when the metrics system is the no-op default.
    private let enabled: Bool
    private struct Key: Hashable {
        let queue: String
        let kind: String
        let outcome: String
    }

    private let outcomes = Mutex<[Key: Counter]>([:])
    private let durations = Mutex<[Key: Timer]>([:])
    private let latencies = Mutex<[String: Timer]>([:])
    private let enqueued = Mutex<[Key: Counter]>([:])
    private let timeouts = Mutex<[Key: Counter]>([:])

    public init() {
        enabled = !(MetricsSystem.factory is NOOPMetricsHandler)
    }

    public func willEnqueue(_ jobs: inout [NewJob]) async throws {
        guard enabled else { return }
        for job in jobs {
            cached(enqueued, Key(queue: job.queue, kind: job.kind, outcome: "")) {
                Counter(label: "spool_jobs_enqueued_total", dimensions: [("queue", job.queue), ("kind", job.kind)])
            }.increment()
        }
    }

    public func didRun(_ report: JobRunReport) {
        guard enabled else { return }
        let job = report.job
        let label = report.outcome.label
        if report.duration != nil {
            cached(latencies, job.queue) {
                Timer(label: "spool_queue_latency_seconds", dimensions: [("queue", job.queue)], preferredDisplayUnit: .seconds)
            }.recordNanoseconds(Int64(report.queueLatency * 1e9))
        }
        cached(outcomes, Key(queue: job.queue, kind: job.kind, outcome: label)) {
            Counter(label: "spool_jobs_total", dimensions: [("queue", job.queue), ("kind", job.kind), ("outcome", label)])
        }.increment()
        if let duration = report.duration {
            cached(durations, Key(queue: job.queue, kind: job.kind, outcome: "")) {
                Timer(label: "spool_job_duration_seconds", dimensions: [("queue", job.queue), ("kind", job.kind)], preferredDisplayUnit: .seconds)
            }.record(duration: duration)
        }
        if report.timedOut {
            cached(timeouts, Key(queue: job.queue, kind: job.kind, outcome: "")) {
                Counter(label: "spool_job_timeouts_total", dimensions: [("queue", job.queue), ("kind", job.kind)])
            }.increment()
        }
    }

    private func cached<K: Hashable & Sendable, M: Sendable>(_ cache: borrowing Mutex<[K: M]>, _ key: K, make: () -> M) -> M {
        cache.withLock { cache in
            if let metric = cache[key] { return metric }
            let metric = make()
            cache[key] = metric
            return metric
        }
    }
}
