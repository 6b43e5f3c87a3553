import Foundation
import Logging
import Spool
import SpoolPostgres
import SpoolRedis
import SpoolSQLite
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The standard workloads of BENCHMARKS.md, and the lane workloads L0–L2 (run only when
/// named): W4's latency of short I/O jobs with no CPU load (L0), while CPU-bound jobs saturate a
/// lane of their own (L1), and while the same CPU-bound jobs run on the shared cooperative pool
/// instead (L2, the contrast).
enum Workload: String, CaseIterable, Sendable {
    case w1 = "W1", w2 = "W2", w3 = "W3", w4 = "W4", w5 = "W5", w6 = "W6", w7 = "W7"
    case l0 = "L0", l1 = "L1", l2 = "L2"

    /// What `spool bench` runs when no `--workload` is given.
    static let standard: [Workload] = [.w1, .w2, .w3, .w4, .w5, .w6, .w7]

    /// Parses `w3` or `W3`.
    init?(id: some StringProtocol) {
        self.init(rawValue: id.trimmingCharacters(in: .whitespaces).uppercased())
    }

    /// What the workload does, in a few words.
    var summary: String {
        switch self {
        case .w1: return "enqueue one call at a time"
        case .w2: return "bulk enqueue"
        case .w3: return "drain a full queue"
        case .w4: return "queue latency at 200 jobs/s"
        case .w5: return "50 ms async jobs, concurrency 100"
        case .w6: return "worker killed mid-run"
        case .w7: return "drain with 1,000,000 jobs waiting"
        case .l0: return "I/O job latency, no CPU load"
        case .l1: return "I/O job latency, CPU jobs saturating their lane"
        case .l2: return "I/O job latency, CPU jobs on the shared pool (no lane)"
        }
    }

    /// W6 (kill a worker process) and W7 (a deep durable queue) only mean something for a
    /// durable driver.
    var needsDurableDriver: Bool { self == .w6 || self == .w7 }
}

/// The storage engines `spool bench` can drive.
enum BenchDriver: String, CaseIterable, Sendable {
    case memory, sqlite, postgres, redis

    /// Whether jobs outlive the process (W6 and W7 apply).
    var isDurable: Bool { self != .memory }

    /// W3's job count: a million for memory, ten thousand for the durable drivers.
    var drainJobs: Int { self == .memory ? 1_000_000 : 10_000 }
}

/// A fresh store for one run of a workload, removed when the run ends (``use(_:)``).
///
/// SQLite runs use a new file: in the temporary folder by default, or the path given with
/// `--database sqlite:PATH` (which must not exist: the bench never touches an existing store).
/// PostgreSQL runs use a new schema `spool_bench_…` in the `--database postgres://…` database,
/// Redis runs a new namespace `spool_bench_…` on the `--database redis://…` server; both are
/// dropped after the run.
final class BenchStore: Sendable {
    let storage: any JobStorage
    /// The store as a `--database` URL, for workloads that hand it to child processes (W6).
    let url: String?
    /// The SQLite file, when that is the store.
    let path: String?
    private let sqlite: SQLiteStorage?
    /// The server driver's service, and how to delete everything the run stored.
    private let service: (storage: any ServedStorage, drop: @Sendable () async throws -> Void)?

    /// A store of `driver` holding at least `capacity` waiting jobs; SQLite files go to
    /// `sqlitePath`, or a new file in the temporary folder when it is nil; PostgreSQL schemas and
    /// Redis namespaces go to the server at `serverURL` (required for those drivers).
    init(driver: BenchDriver, capacity: Int, sqlitePath: String?, serverURL: String?, logger: Logger) throws {
        let scratch = "spool_bench_\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF)"
        switch driver {
        case .memory:
            storage = MemoryStorage(capacity: max(capacity, MemoryStorage.Configuration().capacity))
            (url, path, sqlite, service) = (nil, nil, nil, nil)
        case .sqlite:
            let path = sqlitePath ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("spool-bench-\(UUID().uuidString).sqlite").path
            if FileManager.default.fileExists(atPath: path) {
                throw CLIError("'\(path)' exists: spool bench writes throwaway jobs to a new file and deletes it after each run, so it never uses an existing one")
            }
            let sqlite = try SQLiteStorage(path: path, configuration: SQLiteStorage.Configuration(logger: logger))
            storage = sqlite
            (url, self.path, self.sqlite, service) = ("sqlite:\(path)", path, sqlite, nil)
        case .postgres:
            guard let serverURL else { throw CLIError("--driver postgres needs --database postgres://USER:PASS@HOST:PORT/DB") }
            let url = serverURL + (serverURL.contains("?") ? "&" : "?") + "schema=\(scratch)"
            let configuration = PostgresStorage.Configuration(poolSize: 8, maintenance: nil, startTimeout: .seconds(30), logger: logger)
            let postgres = try CLIError.rewording { try PostgresStorage(url: url, configuration: configuration) }
            storage = postgres
            (self.url, path, sqlite, service) = (url, nil, nil, (postgres, { try await postgres.dropSchema() }))
        case .redis:
            guard let serverURL else { throw CLIError("--driver redis needs --database redis://[:PASS@]HOST:PORT[/DB]") }
            let url = serverURL + (serverURL.contains("?") ? "&" : "?") + "namespace=\(scratch)"
            // Pipelined connections: claims, outcome flushes and enqueues of several workers at once.
            let configuration = RedisStorage.Configuration(poolSize: 8, startTimeout: .seconds(30), maintenance: nil, logger: logger)
            let redis = try CLIError.rewording { try RedisStorage(url: url, configuration: configuration) }
            storage = redis
            (self.url, path, sqlite, service) = (url, nil, nil, (redis, { try await redis.dropNamespace() }))
        }
    }

    /// Runs `body` with the store ready (a server driver's service running beside it), then
    /// closes the store and deletes it: the file, the schema or the namespace.
    func use<T>(_ body: (BenchStore) async throws -> T) async throws -> T {
        guard let service else {
            defer { dispose() }
            return try await body(self)
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.storage.run() }
            do {
                try await service.storage.waitUntilReady()
                let value = try await body(self)
                try? await service.drop()
                group.cancelAll()
                try? await group.waitForAll()
                return value
            } catch {
                try? await service.drop()
                group.cancelAll()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    /// Closes the SQLite store and deletes its file (with its `-wal` and `-shm` companions).
    private func dispose() {
        try? sqlite?.close()
        guard let path else { return }
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: path + suffix)
        }
    }
}

/// Why a benchmark could not run.
enum BenchError: Error, CustomStringConvertible {
    case timedOut(Workload, finished: Int, of: Int, after: Duration)
    case phaseTimedOut(Workload, phase: String, after: Duration)
    case workerExited(Workload, status: Int32)

    var description: String {
        switch self {
        case .timedOut(let workload, let finished, let total, let after):
            return "\(workload.rawValue) timed out after \(after): \(finished) of \(total) jobs finished"
        case .phaseTimedOut(let workload, let phase, let after):
            return "\(workload.rawValue) timed out after \(after) while \(phase)"
        case .workerExited(let workload, let status):
            return "\(workload.rawValue): the `spool work` child process exited on its own (status \(status)) before it was killed"
        }
    }
}

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
    /// The server of postgres and redis runs (`--database postgres://…` or `redis://…`); each
    /// run uses a new schema or namespace there and drops it afterwards.
    var serverURL: String? = nil
    /// W7's jobs already waiting in the queue before W3 runs.
    var backlog = 1_000_000

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
        }
    }

    /// Runs `body` with a fresh store for one run, running (PostgreSQL's pool), then disposes
    /// of it.
    private func withStore<T>(capacity: Int, _ body: (BenchStore) async throws -> T) async throws -> T {
        let store = try BenchStore(driver: driver, capacity: capacity, sqlitePath: sqlitePath, serverURL: serverURL, logger: logger)
        return try await store.use(body)
    }

    // MARK: W1, W2: enqueue

    private func enqueueOneByOne(jobs: Int, label: String) async throws -> Figures {
        return try await withStore(capacity: jobs) { store -> Figures in
            let client = SpoolClient(storage: store.storage)
            let enqueued = Counter()
            let elapsed = try await progress.track("\(label) enqueue", total: jobs, count: enqueued.read) {
                let start = ContinuousClock.now
                for index in 0..<jobs {
                    _ = try await client.enqueue(NoopJob(index: index))
                    enqueued.add(1)
                }
                return start.duration(to: .now)
            }
            var figures = Figures(jobs: jobs)
            figures.jobsPerSecond = Double(jobs) / elapsed.seconds
            return figures
        }
    }

    private func enqueueInBulk(jobs: Int, label: String) async throws -> Figures {
        return try await withStore(capacity: jobs) { store -> Figures in
            let client = SpoolClient(storage: store.storage)
            let enqueued = Counter()
            let elapsed = try await progress.track("\(label) enqueue", total: jobs, count: enqueued.read) {
                let start = ContinuousClock.now
                try await enqueueNoops(client, jobs: jobs, counter: enqueued)
                return start.duration(to: .now)
            }
            var figures = Figures(jobs: jobs)
            figures.jobsPerSecond = Double(jobs) / elapsed.seconds
            return figures
        }
    }

    /// Enqueues no-op jobs 0..<jobs through the bulk API, `batchSize` per call.
    private func enqueueNoops(
        _ client: SpoolClient, jobs: Int, counter: Counter, options: EnqueueOptions = EnqueueOptions()
    ) async throws {
        var next = 0
        while next < jobs {
            let end = min(jobs, next + Self.batchSize)
            _ = try await client.enqueue((next..<end).map { NoopJob(index: $0) }, options: options)
            counter.add(end - next)
            next = end
        }
    }

    // MARK: W3, W7: drain a full queue

    /// W3: enqueue `jobs` no-ops, then time a worker draining them. W7 (`backlog` > 0): the
    /// same, with `backlog` jobs already waiting in the same queue, enqueued in bulk first. The
    /// backlog has priority 0 and the measured jobs priority 1, so the worker drains the
    /// measured jobs first while every claim still works through an index of a million more;
    /// backlog jobs the worker reaches before it stops are run by an uncounted handler.
    private func drain(jobs: Int, concurrency: Int, label: String, backlog: Int = 0, workload: Workload = .w3) async throws -> Figures {
        let runs = RunCounts(jobs: jobs)
        let tracker = CompletionTracker(target: jobs)
        let registry = JobRegistry()
        registry.register(NoopJob.self) { job, _ in
            runs.ran(job.index)
            tracker.jobFinished()
        }
        registry.register(BacklogJob.self) { _, _ in }
        return try await withStore(capacity: jobs + backlog) { store -> Figures in
            let client = SpoolClient(storage: store.storage, registry: registry)

            if backlog > 0 {
                let enqueued = Counter()
                let limit = Duration.seconds(120) + .microseconds(500) * backlog
                try await progress.track("\(label) backlog", total: backlog, count: enqueued.read) {
                    try await withTimeLimit(limit, BenchError.phaseTimedOut(workload, phase: "enqueueing the backlog of \(backlog) jobs", after: limit)) {
                        var next = 0
                        while next < backlog {
                            let end = min(backlog, next + Self.backlogBatchSize)
                            _ = try await client.enqueue((next..<end).map { BacklogJob(index: $0) }, options: EnqueueOptions(priority: 0))
                            enqueued.add(end - next)
                            next = end
                        }
                    }
                }
            }

            ProcessMemory.trimHeap()
            let before = ProcessMemory.residentBytes()
            ProcessMemory.resetPeak()
            let enqueued = Counter()
            try await progress.track("\(label) enqueue", total: jobs, count: enqueued.read) {
                try await enqueueNoops(client, jobs: jobs, counter: enqueued, options: EnqueueOptions(priority: backlog > 0 ? 1 : nil))
            }
            let after = ProcessMemory.residentBytes()

            let (started, done) = try await progress.track("\(label) run", total: jobs, count: { tracker.finished }) {
                try await withWorker(
                    storage: store.storage, registry: registry, concurrency: concurrency, tracker: tracker,
                    timeout: .seconds(60) + .microseconds(100) * jobs, workload: workload
                )
            }
            let peak = ProcessMemory.peakResidentBytes()
            let tally = runs.tally()

            var figures = Figures(jobs: jobs)
            figures.jobsPerSecond = Double(jobs) / started.duration(to: done).seconds
            figures.peakRSSMegabytes = peak.map { Double($0) / 1_048_576 }
            // Resident bytes per queued job measure the memory driver's records; for a durable
            // driver they would measure the page cache, so they are left out.
            if driver == .memory, let before, let after {
                figures.bytesPerJob = Double(after - before) / Double(jobs)
            }
            figures.finished = tally.finished
            figures.lost = tally.lost
            figures.twice = tally.twice
            return figures
        }
    }

    // MARK: W4: queue latency under a steady rate

    /// W4 (and L0–L2): a producer enqueues a job every 5 ms; each job records when it started.
    /// L1 and L2 add CPU-bound jobs (20 ms of spinning each) in a queue `cpu`, enough of them to
    /// keep every core busy for the whole run, run by a worker of their own (two per core) beside
    /// the latency jobs' worker: on a lane of its default size (one thread per core but one; it
    /// stays saturated, with jobs waiting for its threads) (L1), or on the shared cooperative
    /// pool (L2). The CPU queue gets its own worker because a worker claims one
    /// batch at a time: with a durable store each claim is a round trip, and latency jobs would
    /// wait behind the CPU queue's claims, which is not what a lane is about.
    private func latency(jobs: Int, concurrency: Int, label: String, workload: Workload = .w4) async throws -> Figures {
        let latencies = LatencyRecorder(jobs: jobs)
        let tracker = CompletionTracker(target: jobs)
        let registry = JobRegistry()
        registry.register(LatencyJob.self) { job, _ in
            let started = monotonicNanos()
            latencies.record(job.index, nanoseconds: started &- job.enqueuedNanos)
            tracker.jobFinished()
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let lane = workload == .l1 ? BlockingPool(name: "bench.cpu", yieldsToOtherWork: true) : nil
        defer { lane?.shutdown() }
        let crunches = workload == .l1 || workload == .l2 ? jobs * 5 / 20 * cores * 3 / 2 : 0
        registry.register(CrunchJob.self, options: JobOptions(queue: "cpu", lane: lane)) { job, _ in
            let end = ContinuousClock.now + .milliseconds(job.ms)
            while ContinuousClock.now < end {}  // CPU-bound: never suspends
        }
        return try await withStore(capacity: jobs + crunches) { store -> Figures in
            let storage = store.storage
            let client = SpoolClient(storage: storage, registry: registry)
            let interval = Self.latencyInterval
            var cpuWorker: [WorkerConfiguration] = []
            if crunches > 0 {
                var next = 0
                while next < crunches {
                    let end = min(crunches, next + Self.batchSize)
                    _ = try await client.enqueue(Array(repeating: CrunchJob(ms: 20), count: end - next))
                    next = end
                }
                cpuWorker = [WorkerConfiguration(queues: [WorkerQueue("cpu")], concurrency: 2 * cores)]
            }

            _ = try await progress.track("\(label) run", total: jobs, count: { tracker.finished }) {
                try await withWorker(
                    storage: storage, registry: registry, concurrency: concurrency, tracker: tracker,
                    timeout: .seconds(60) + interval * jobs, workload: workload, alongside: cpuWorker
                ) {
                    // Deadline-based: job k is due at start + k × interval, however late the
                    // previous enqueue returned, so the rate does not drift.
                    let start = ContinuousClock.now
                    for index in 0..<jobs {
                        try await Task.sleep(until: start + interval * index, tolerance: .zero, clock: .continuous)
                        _ = try await client.enqueue(LatencyJob(index: index, enqueuedNanos: monotonicNanos()))
                    }
                }
            }
            let sorted = latencies.sortedMilliseconds()
            var figures = Figures(jobs: jobs)
            figures.p50Milliseconds = Figures.percentile(50, ofSorted: sorted)
            figures.p99Milliseconds = Figures.percentile(99, ofSorted: sorted)
            figures.maxMilliseconds = sorted.last
            return figures
        }
    }

    // MARK: W5: many short async jobs

    private func sleepers(jobs: Int, concurrency: Int, label: String) async throws -> Figures {
        let tracker = CompletionTracker(target: jobs)
        let registry = JobRegistry()
        registry.register(SleepJob.self) { _, _ in
            try await Task.sleep(for: .milliseconds(50))
            tracker.jobFinished()
        }
        return try await withStore(capacity: jobs) { store -> Figures in
            let storage = store.storage
            let client = SpoolClient(storage: storage, registry: registry)
            var next = 0
            while next < jobs {
                let end = min(jobs, next + Self.batchSize)
                _ = try await client.enqueue((next..<end).map { SleepJob(index: $0) })
                next = end
            }
            let perRound = Duration.milliseconds(50) * ((jobs + concurrency - 1) / concurrency)
            let (started, done) = try await progress.track("\(label) run", total: jobs, count: { tracker.finished }) {
                try await withWorker(
                    storage: storage, registry: registry, concurrency: concurrency, tracker: tracker,
                    timeout: .seconds(60) + perRound * 4, workload: .w5
                )
            }
            var figures = Figures(jobs: jobs)
            figures.makespanSeconds = started.duration(to: done).seconds
            return figures
        }
    }

    // MARK: W6: a worker process killed mid-run

    /// W6: `jobs` `spool.sleep` jobs of 20 ms in a file; a child `spool work` (this executable)
    /// with a 2 s lease and a 1 s rescue interval runs them; the bench reads the counts from the
    /// file every 100 ms and SIGKILLs the child once about 30 % have succeeded, starts a second
    /// child, and waits (bounded) until every job is finished.
    ///
    /// Figures, read from the file: finished (succeeded), lost (jobs − finished), twice (jobs
    /// claimed more than once: attempt ≥ 2; this counts the killed worker's claimed-but-unstarted
    /// jobs too, so it bounds the jobs that really ran twice from above).
    private func killedWorker(jobs: Int, concurrency: Int, label: String) async throws -> Figures {
        return try await withStore(capacity: jobs) { store -> Figures in
            guard let url = store.url else { throw CLIError("W6 needs a durable driver: its child process opens the store by URL") }
            let storage = store.storage
            let client = SpoolClient(storage: storage, registry: BuiltinJobs.registry())
            var next = 0
            while next < jobs {
                let end = min(jobs, next + Self.batchSize)
                _ = try await client.enqueue(Array(repeating: BuiltinJobs.Sleep(ms: 20), count: end - next))
                next = end
            }

            let executable = try ChildProcess.currentExecutable()
            let arguments = [
                "work", "--database", url, "--concurrency", "\(concurrency)", "--lease", "2",
                "--rescue-interval", "1", "--drain-timeout", "5", "--log-level", "error",
            ]
            let killAt = max(1, jobs * 3 / 10)
            let succeeded = Counter()
            let watchLimit = Duration.seconds(60)
            let finishLimit = Duration.seconds(60) + .milliseconds(20) * jobs

            /// Reads the succeeded and finished counts from the file.
            @Sendable func readCounts() async throws -> (succeeded: Int, finished: Int) {
                let stats = try await storage.stats()
                let done = stats.count(.succeeded)
                succeeded.set(done)
                return (done, done + stats.count(.dead) + stats.count(.cancelled))
            }

            try await progress.track("\(label) run", total: jobs, count: succeeded.read) {
                let first = try ChildProcess(executable: executable, arguments: arguments)
                do {
                    let deadline = ContinuousClock.now + watchLimit
                    while try await readCounts().succeeded < killAt {
                        if let status = first.exitStatus { throw BenchError.workerExited(.w6, status: status) }
                        guard ContinuousClock.now < deadline else {
                            throw BenchError.phaseTimedOut(.w6, phase: "waiting for \(killAt) jobs to succeed before the kill", after: watchLimit)
                        }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    first.send(SIGKILL)
                    _ = await first.waitForExit()
                } catch {
                    await first.stop(grace: .seconds(1))
                    throw error
                }

                let second = try ChildProcess(executable: executable, arguments: arguments)
                do {
                    let deadline = ContinuousClock.now + finishLimit
                    while try await readCounts().finished < jobs && ContinuousClock.now < deadline {
                        if let status = second.exitStatus { throw BenchError.workerExited(.w6, status: status) }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                } catch {
                    await second.stop(grace: .seconds(1))
                    throw error
                }
                let status = await second.stop(grace: .seconds(10))
                if status != 0 {
                    Terminal.printError("W6: the second `spool work` exited with status \(status) after SIGTERM (expected 0)")
                }
            }

            let finished = try await readCounts().succeeded
            var twice = 0
            var cursor: JobID?
            repeat {
                let page = try await storage.jobs(JobFilter(kind: BuiltinJobs.Sleep.kind), after: cursor, limit: 1_000)
                twice += page.jobs.count { $0.attempt >= 2 }
                cursor = page.nextCursor
            } while cursor != nil

            var figures = Figures(jobs: jobs)
            figures.finished = finished
            figures.lost = jobs - finished
            figures.twice = twice
            return figures
        }
    }

    /// Runs `body`, throwing `error` if it takes longer than `limit` (the body is cancelled).
    private func withTimeLimit<T: Sendable>(
        _ limit: Duration, _ error: BenchError, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let value = try await group.next(), let value else { throw error }
            return value
        }
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
    private func withWorker(
        storage: any JobStorage, registry: JobRegistry, concurrency: Int, queues: [WorkerQueue] = ["default"], tracker: CompletionTracker,
        timeout: Duration, workload: Workload, alongside: [WorkerConfiguration] = [],
        producer: @escaping @Sendable () async throws -> Void = {}
    ) async throws -> (started: ContinuousClock.Instant, done: ContinuousClock.Instant) {
        let pool = (0..<workers).map { _ in
            Worker(
                storage: storage, registry: registry, configuration: WorkerConfiguration(queues: queues, concurrency: concurrency), logger: logger
            )
        } + alongside.map { Worker(storage: storage, registry: registry, configuration: $0, logger: logger) }
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

/// A counter for progress lines, bumped by one task and read by another.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)

    func add(_ amount: Int) {
        value.wrappingAdd(amount, ordering: .relaxed)
    }

    func set(_ amount: Int) {
        value.store(amount, ordering: .relaxed)
    }

    @Sendable func read() -> Int {
        value.load(ordering: .relaxed)
    }
}
