// Worker: the service that runs jobs; its stored state, init and run() (claiming and running in Worker+Running, outcomes in Worker+Outcomes).
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs jobs: a swift-service-lifecycle `Service` that claims jobs from storage, runs their
/// handlers with bounded concurrency, and stores their outcomes.
///
/// - Claims come in batches of up to the free slots, per queue within each queue's concurrency.
/// - Each job runs under its kind's timeout (through cancellation); a handler that ignores
///   cancellation is reported as timed out at its deadline and keeps its slot until it returns.
/// - Failures retry with the kind's ``RetryStrategy`` until max attempts, then go to `dead`;
///   ``PermanentFailure`` goes to `dead` at once; ``Snooze`` runs again later without spending
///   an attempt; an unknown kind or an undecodable payload is `dead` with the reason.
/// - Outcomes are stored in batches; leases are renewed by heartbeats.
/// - A running job that is cancelled (or deleted, or rescued by another worker) loses its lease;
///   the next heartbeat finds out, within ``WorkerConfiguration/heartbeatInterval``, and cancels
///   its handler, which sees `CancellationError` (from `Task.sleep`, `Task.checkCancellation()`)
///   or `Task.isCancelled`. No outcome is stored for it: the storage already has its final state.
///   A handler that ignores cancellation keeps running and keeps its slot until it returns, but
///   its result is discarded.
/// - Graceful shutdown stops claiming, lets running jobs finish for ``WorkerConfiguration/drainTimeout``,
///   then cancels the rest and hands their leases back (no attempt spent). Cancelling the task
///   that runs the worker does the same without the wait.
///
/// Every failure is logged (by ``LoggingMiddleware``) and recorded in the job's history;
/// failures to store outcomes are retried and logged, never dropped silently.
public final class Worker: Service, Sendable {
    public let configuration: WorkerConfiguration
    let storage: any JobStorage
    let registry: JobRegistry
    let clock: any JobClock
    let middleware: [any JobMiddleware]
    /// The middleware that wrap runs, outermost first (only these cost anything per run).
    let runMiddleware: [any JobRunMiddleware]
    let logger: Logger
    let core: WorkerCore
    /// Whether ``run()`` is running (a worker runs once at a time).
    private let running = Mutex(false)

    /// A worker for the kinds in `registry`.
    /// - Parameters:
    ///   - storage: where the worker claims jobs and records their outcomes.
    ///   - registry: the kinds the worker runs, with their handlers.
    ///   - configuration: queues, concurrency, lease, drain and rescue; the concurrency is
    ///     held to 1 ... ``WorkerConfiguration/maximumConcurrency``.
    ///   - middleware: run around each job, outermost first. Default: tracing when a tracer is
    ///     bootstrapped (``TracingMiddleware/bootstrapped``), metrics and logging.
    ///   - clock: the clock for run-at times, backoff, leases and timeouts.
    ///   - logger: the worker's own messages, tagged `spool.worker` with its id; the default
    ///     logging middleware logs to it too.
    public init(
        storage: any JobStorage, registry: JobRegistry, configuration: WorkerConfiguration = WorkerConfiguration(),
        middleware: [any JobMiddleware]? = nil, clock: any JobClock = SystemClock(),
        logger: Logger = Logger(label: "spool.worker")
    ) {
        self.storage = storage
        self.registry = registry
        var configuration = configuration
        // The fields are public vars: hold them to the ranges `init` promises.
        configuration.concurrency = WorkerConfiguration.bounded(concurrency: configuration.concurrency)
        self.configuration = configuration
        self.core = WorkerCore(concurrency: configuration.concurrency, queues: configuration.queues)
        self.clock = clock
        var logger = logger
        logger[metadataKey: "spool.worker"] = "\(configuration.workerID)"
        self.logger = logger
        let middleware = middleware ?? TracingMiddleware.bootstrapped + [MetricsMiddleware(), LoggingMiddleware(logger: logger)]
        self.middleware = middleware
        // A disabled tracing middleware (no tracer) stays out of the run path.
        self.runMiddleware = middleware.compactMap { layer in
            (layer as? TracingMiddleware)?.isEnabled == false ? nil : layer as? any JobRunMiddleware
        }
    }

    /// What this worker has done since it started.
    public var stats: WorkerStats { core.stats }

    /// Starts a graceful shutdown, as a shutdown signal to the service group would.
    public func beginShutdown() {
        core.beginDrain()
    }

    /// Claims and runs jobs until graceful shutdown (or cancellation), as described above.
    /// - Throws: ``SpoolError`` `invalidArgument` when this worker is already running: two runs
    ///   of one worker would share its slots and outcomes, and outcomes could be lost. Run
    ///   another `Worker` for more concurrency.
    public func run() async throws {
        guard
            running.withLock({ running in
                defer { running = true }
                return !running
            })
        else {
            throw SpoolError(
                code: .invalidArgument,
                message:
                    "worker '\(configuration.workerID)' is already running: a Worker runs once at a time (make another Worker to run more)"
            )
        }
        defer { running.withLock { $0 = false } }
        let handlers = registry.all
        logger.info(
            "worker started",
            metadata: [
                "spool.queues": "\(configuration.queues.map(\.name).joined(separator: ","))",
                "spool.concurrency": "\(configuration.concurrency)",
            ])
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.flushOutcomes() }
                    await withTaskGroup(of: Void.self) { maintenance in
                        maintenance.addTask { await self.heartbeatLoop() }
                        if let interval = self.configuration.rescueInterval {
                            maintenance.addTask { await self.rescueLoop(every: interval) }
                        }
                        await self.runJobs(handlers)
                        maintenance.cancelAll()
                    }
                    self.core.closeOutcomes()
                }
            } onGracefulShutdown: {
                self.core.beginDrain()
            }
        } onCancel: {
            self.core.forceStop(at: self.clock.now)
        }
        logger.info("worker stopped", metadata: ["spool.stats": "\(stats)"])
    }
}
