import Foundation
import Logging
import Spool
import Synchronization

/// The standard workloads of BENCHMARKS.md.
enum Workload: String, CaseIterable, Sendable {
    case w1 = "W1", w2 = "W2", w3 = "W3", w4 = "W4", w5 = "W5", w6 = "W6", w7 = "W7"

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
        }
    }

    /// W6 (kill a worker process) and W7 (a deep durable queue) only mean something for a
    /// durable driver.
    var needsDurableDriver: Bool { self == .w6 || self == .w7 }
}

/// The storage engines `spool bench` can drive.
enum BenchDriver: String, CaseIterable, Sendable {
    case memory, sqlite, postgres, redis

    /// Whether this build has the driver.
    var isAvailable: Bool { self == .memory }

    /// A fresh, empty store for one run, holding at least `capacity` waiting jobs.
    func makeStorage(capacity: Int) throws -> any JobStorage {
        switch self {
        case .memory:
            return MemoryStorage(capacity: max(capacity, MemoryStorage.Configuration().capacity))
        case .sqlite, .postgres, .redis:
            throw BenchError.driverUnavailable(self)
        }
    }

    /// W3's job count: a million for memory, ten thousand for the durable drivers.
    var drainJobs: Int { self == .memory ? 1_000_000 : 10_000 }
}

/// Why a benchmark could not run.
enum BenchError: Error, CustomStringConvertible {
    case driverUnavailable(BenchDriver)
    case timedOut(Workload, finished: Int, of: Int, after: Duration)

    var description: String {
        switch self {
        case .driverUnavailable(let driver):
            return "driver '\(driver.rawValue)' is not available in this build yet"
        case .timedOut(let workload, let finished, let total, let after):
            return "\(workload.rawValue) timed out after \(after): \(finished) of \(total) jobs finished"
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

    /// Jobs per bulk enqueue call (W2, and the pre-enqueue of W3 and W5).
    static let batchSize = 1_000
    /// W4's producer rate: one job every 5 ms (200 jobs/s).
    static let latencyInterval = Duration.milliseconds(5)

    /// The job count of `workload` unless `--jobs` says otherwise.
    func defaultJobs(_ workload: Workload) -> Int {
        switch workload {
        case .w1, .w2: return 10_000
        case .w3, .w7: return driver.drainJobs
        case .w4: return 2_000  // 200 jobs/s for 10 s
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
        case .w3, .w7: return 100
        case .w4: return WorkerConfiguration().concurrency
        case .w5, .w6: return 100
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
        case .w6, .w7: throw BenchError.driverUnavailable(driver)
        }
    }

    // MARK: W1, W2: enqueue

    private func enqueueOneByOne(jobs: Int, label: String) async throws -> Figures {
        let client = SpoolClient(storage: try driver.makeStorage(capacity: jobs))
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

    private func enqueueInBulk(jobs: Int, label: String) async throws -> Figures {
        let client = SpoolClient(storage: try driver.makeStorage(capacity: jobs))
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

    /// Enqueues no-op jobs 0..<jobs through the bulk API, `batchSize` per call.
    private func enqueueNoops(_ client: SpoolClient, jobs: Int, counter: Counter) async throws {
        var next = 0
        while next < jobs {
            let end = min(jobs, next + Self.batchSize)
            _ = try await client.enqueue((next..<end).map { NoopJob(index: $0) })
            counter.add(end - next)
            next = end
        }
    }

    // MARK: W3: drain a full queue

    private func drain(jobs: Int, concurrency: Int, label: String) async throws -> Figures {
        let runs = RunCounts(jobs: jobs)
        let tracker = CompletionTracker(target: jobs)
        let registry = JobRegistry()
        registry.register(NoopJob.self) { job, _ in
            runs.ran(job.index)
            tracker.jobFinished()
        }
        let storage = try driver.makeStorage(capacity: jobs)
        let client = SpoolClient(storage: storage, registry: registry)

        ProcessMemory.trimHeap()
        let before = ProcessMemory.residentBytes()
        ProcessMemory.resetPeak()
        let enqueued = Counter()
        try await progress.track("\(label) enqueue", total: jobs, count: enqueued.read) {
            try await enqueueNoops(client, jobs: jobs, counter: enqueued)
        }
        let after = ProcessMemory.residentBytes()

        let (started, done) = try await progress.track("\(label) run", total: jobs, count: { tracker.finished }) {
            try await withWorker(
                storage: storage, registry: registry, concurrency: concurrency, tracker: tracker,
                timeout: .seconds(60) + .microseconds(100) * jobs, workload: .w3
            )
        }
        let peak = ProcessMemory.peakResidentBytes()
        let tally = runs.tally()

        var figures = Figures(jobs: jobs)
        figures.jobsPerSecond = Double(jobs) / started.duration(to: done).seconds
        figures.peakRSSMegabytes = peak.map { Double($0) / 1_048_576 }
        if let before, let after {
            figures.bytesPerJob = Double(after - before) / Double(jobs)
        }
        figures.finished = tally.finished
        figures.lost = tally.lost
        figures.twice = tally.twice
        return figures
    }

    // MARK: W4: queue latency under a steady rate

    private func latency(jobs: Int, concurrency: Int, label: String) async throws -> Figures {
        let latencies = LatencyRecorder(jobs: jobs)
        let tracker = CompletionTracker(target: jobs)
        let registry = JobRegistry()
        registry.register(LatencyJob.self) { job, _ in
            let started = monotonicNanos()
            latencies.record(job.index, nanoseconds: started &- job.enqueuedNanos)
            tracker.jobFinished()
        }
        let storage = try driver.makeStorage(capacity: jobs)
        let client = SpoolClient(storage: storage, registry: registry)
        let interval = Self.latencyInterval

        _ = try await progress.track("\(label) run", total: jobs, count: { tracker.finished }) {
            try await withWorker(
                storage: storage, registry: registry, concurrency: concurrency, tracker: tracker,
                timeout: .seconds(60) + interval * jobs, workload: .w4
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

    // MARK: W5: many short async jobs

    private func sleepers(jobs: Int, concurrency: Int, label: String) async throws -> Figures {
        let tracker = CompletionTracker(target: jobs)
        let registry = JobRegistry()
        registry.register(SleepJob.self) { _, _ in
            try await Task.sleep(for: .milliseconds(50))
            tracker.jobFinished()
        }
        let storage = try driver.makeStorage(capacity: jobs)
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
        storage: any JobStorage, registry: JobRegistry, concurrency: Int, tracker: CompletionTracker,
        timeout: Duration, workload: Workload, producer: @escaping @Sendable () async throws -> Void = {}
    ) async throws -> (started: ContinuousClock.Instant, done: ContinuousClock.Instant) {
        let pool = (0..<workers).map { _ in
            Worker(storage: storage, registry: registry, configuration: WorkerConfiguration(concurrency: concurrency), logger: logger)
        }
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

    @Sendable func read() -> Int {
        value.load(ordering: .relaxed)
    }
}
