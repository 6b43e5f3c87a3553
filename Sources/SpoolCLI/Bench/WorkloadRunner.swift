// WorkloadRunner: its settings, default job counts and concurrency, and the store and worker every run uses; the workloads are in WorkloadRunner+*.swift.
import Foundation
import Logging
import Spool
import SpoolSQLite

/// Runs single runs of the workloads through the public API: ``SpoolClient`` to enqueue and a
/// real ``Worker`` (stopped with ``Worker/beginShutdown()``) to run jobs. Every run gets a fresh
/// store.
struct WorkloadRunner: Sendable {
    let driver: BenchDriver
    /// How many worker services share the store.
    let workers: Int
    let progress: ProgressLine
    /// The workers' logger: warnings and errors only, on standard error.
    let logger: Logger
    /// Where SQLite runs put their file (`--database sqlite:PATH`); nil for the temporary folder.
    var sqlitePath: String? = nil
    /// How hard the SQLite store's commits work to be on disk (`--database sqlite:PATH?durability=`).
    var sqliteDurability = SQLiteStorage.Configuration.Durability.full
    /// The server of postgres and redis runs (`--database postgres://…` or `redis://…`); each
    /// run uses a new schema or namespace there and drops it afterwards.
    var serverURL: String? = nil
    /// W7's jobs already waiting in the queue before W3 runs.
    var backlog = 1_000_000
    /// W4 and L0-L2: time each job's wait in stages (`--stages`).
    var stages = false

    /// Jobs per bulk enqueue call (W2, and the pre-enqueue of W3 and W5).
    static let batchSize = 1_000
    /// Jobs per bulk enqueue call of W7's backlog.
    static let backlogBatchSize = 10_000
    /// W4's producer rate: one job every 5 ms (200 jobs/s).
    static let latencyInterval = Duration.milliseconds(5)

    /// The job count of `workload` unless `--jobs` says otherwise.
    func defaultJobs(_ workload: Workload) -> Int {
        switch workload {
        case .w1, .w2: return 10_000
        case .w3, .w7: return driver.drainJobs
        case .w4, .l0, .l1, .l2: return 2_000  // 200 jobs/s for 10 s
        case .w5, .w6: return 1_000
        case .b1: return 10_000
        case .b2: return driver == .memory ? 100_000 : 10_000
        case .b3: return 2_000  // 200 batches of 10
        case .b4: return 1_000  // steps of one chain
        }
    }

    /// The worker concurrency of `workload` unless `--concurrency` says otherwise; nil for
    /// workloads without a worker.
    func defaultConcurrency(_ workload: Workload) -> Int? {
        switch workload {
        case .w1, .w2: return nil
        // W3 throughput rises with concurrency (bigger claim and finish batches) up to about
        // 100-200 on 2 cores (memory driver, 2026-11-22): 32 → 0.30-0.43M jobs/s,
        // 100 → 0.37-0.50M, 200 → 0.45-0.57M, 500 → 0.56M.
        // PostgreSQL pays a round trip and a statement per claim and per flush of outcomes,
        // whatever their size: bigger batches (more slots) divide that cost (W3 on 2 cores,
        // 100,000 jobs: 100 → 12k jobs/s, 300 → 21k, 1,000 → 25-28k).
        case .w3, .w7: return driver == .postgres ? 1_000 : 100
        case .w4, .l0, .l1, .l2: return WorkerConfiguration().concurrency
        case .w5: return 100
        // W6 kills its worker after ~300 of 1,000 20 ms jobs, watching every 100 ms: at 10
        // jobs at a time that is ~0.6 s into a ~2 s run, so the kill lands mid-run.
        case .w6: return 10
        case .b1: return nil
        case .b2: return driver == .postgres ? 1_000 : 100
        case .b3, .b4: return WorkerConfiguration().concurrency
        }
    }

    /// One run of `workload`. `label` names the run in the progress line.
    func run(_ workload: Workload, jobs: Int, concurrency: Int?, label: String) async throws -> Figures {
        switch workload {
        case .w1: return try await enqueueOneByOne(jobs: jobs, label: label)
        case .w2: return try await enqueueInBulk(jobs: jobs, label: label)
        case .w3: return try await drain(jobs: jobs, concurrency: concurrency ?? 1, label: label)
        case .w4: return try await latency(jobs: jobs, concurrency: concurrency ?? 1, label: label)
        case .w5: return try await sleepers(jobs: jobs, concurrency: concurrency ?? 1, label: label)
        case .w6: return try await killedWorker(jobs: jobs, concurrency: concurrency ?? 1, label: label)
        case .w7: return try await drain(jobs: jobs, concurrency: concurrency ?? 1, label: label, backlog: backlog, workload: .w7)
        case .l0, .l1, .l2: return try await latency(jobs: jobs, concurrency: concurrency ?? 1, label: label, workload: workload)
        case .b1: return try await enqueueBatch(jobs: jobs, label: label)
        case .b2: return try await drainBatch(jobs: jobs, concurrency: concurrency ?? 1, label: label)
        case .b3: return try await callbackLatency(jobs: jobs, concurrency: concurrency ?? 1, label: label)
        case .b4: return try await chain(steps: jobs, concurrency: concurrency ?? 1, label: label)
        }
    }

    /// Runs `body` with a fresh store for one run, running (PostgreSQL's pool), then disposes
    /// of it.
    func withStore<T>(capacity: Int, _ body: (BenchStore) async throws -> T) async throws -> T {
        let store = try BenchStore(
            driver: driver, capacity: capacity, sqlitePath: sqlitePath, durability: sqliteDurability, serverURL: serverURL, logger: logger)
        return try await store.use(body)
    }

    // MARK: Running a worker

    private enum WorkerEvent: Sendable {
        case producerDone
        case allFinished(ContinuousClock.Instant?)
    }

    /// Starts a worker, runs `producer` beside it, and waits (by event, not by polling) until
    /// `tracker` has seen every job finish and the producer has returned; then shuts the worker
    /// down gracefully and waits for it to stop (its last outcomes stored).
    ///
    /// - Returns: when the worker was started and when the last job finished.
    /// - Throws: ``BenchError/timedOut(_:finished:of:after:)`` past `timeout` (the worker is
    ///   then cancelled), or what the producer or worker threw.
    func withWorker(
        storage: any JobStorage, registry: JobRegistry, concurrency: Int, queues: [WorkerQueue] = ["default"], tracker: CompletionTracker,
        timeout: Duration, workload: Workload, alongside: [WorkerConfiguration] = [], stages: StageRecorder? = nil,
        producer: @escaping @Sendable () async throws -> Void = {}
    ) async throws -> (started: ContinuousClock.Instant, done: ContinuousClock.Instant) {
        let pool =
            (0..<workers).map { index in
                var configuration = WorkerConfiguration(queues: queues, concurrency: concurrency)
                configuration.claimProbe = stages?.probe(claimer: index)
                return Worker(storage: storage, registry: registry, configuration: configuration, logger: logger)
            }
            + alongside.map { Worker(storage: storage, registry: registry, configuration: $0, logger: logger) }
        return try await withThrowingTaskGroup(of: Void.self) { workers in
            let started = ContinuousClock.now
            for worker in pool { workers.addTask { try await worker.run() } }
            let done: ContinuousClock.Instant
            do {
                done = try await withThrowingTaskGroup(of: WorkerEvent.self) { group in
                    group.addTask {
                        try await producer()
                        return .producerDone
                    }
                    group.addTask { .allFinished(await tracker.waitUntilDone()) }
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        throw BenchError.timedOut(workload, finished: tracker.finished, of: tracker.target, after: timeout)
                    }
                    var producerDone = false
                    var finishedAt: ContinuousClock.Instant?
                    while let event = try await group.next() {
                        switch event {
                        case .producerDone: producerDone = true
                        case .allFinished(let at): finishedAt = at
                        }
                        if producerDone, let finishedAt {
                            group.cancelAll()
                            return finishedAt
                        }
                    }
                    throw CancellationError()
                }
            } catch {
                workers.cancelAll()
                throw error
            }
            for worker in pool { worker.beginShutdown() }
            try await workers.waitForAll()
            return (started, done)
        }
    }
}
