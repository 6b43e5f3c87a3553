// WorkloadRunner: B1-B4, the cost of batches and dependencies (docs/benchmarks.md).
import Foundation
import Spool
import Synchronization

/// A batch's callback job in B2 and B3: `batch` is the batch's number in the run.
struct BatchDoneJob: JobParameters {
    static let kind = "bench.batch-done"
    var batch: Int
}

extension WorkloadRunner {
    /// The batch store of a run (B1–B4 are offered only for drivers that keep batches).
    private func batching(_ store: BenchStore) throws -> any JobBatching {
        guard let batching = store.storage as? any JobBatching else {
            throw SpoolError(code: .unprocessable, message: "the \(driver.rawValue) driver does not keep batches yet")
        }
        return batching
    }

    /// B1: `jobs` no-ops enqueued as one batch, in one call (with a callback), timed. Its
    /// target is half of W2's rate at least: the batch's bookkeeping must not cost like a
    /// second enqueue.
    func enqueueBatch(jobs: Int, label: String) async throws -> Figures {
        try await withStore(capacity: jobs + 1) { store -> Figures in
            _ = try batching(store)
            let client = SpoolClient(storage: store.storage)
            let elapsed = try await progress.track("\(label) enqueue", total: 1, count: { 0 }) {
                let start = ContinuousClock.now
                _ = try await client.enqueueBatch(
                    (0..<jobs).map { NoopJob(index: $0) }, callbacks: BatchCallbacks(onComplete: client.job(BatchDoneJob(batch: 0))))
                return start.duration(to: .now)
            }
            var figures = Figures(jobs: jobs)
            figures.jobsPerSecond = Double(jobs) / elapsed.seconds
            return figures
        }
    }

    /// B2: a batch of `jobs` no-ops drained by a worker, as W3 drains loose jobs: its target is
    /// 0.8 of W3's rate at least (the bookkeeping of every outcome is batched with it).
    func drainBatch(jobs: Int, concurrency: Int, label: String) async throws -> Figures {
        let runs = RunCounts(jobs: jobs)
        let tracker = CompletionTracker(target: jobs)
        let registry = JobRegistry()
        registry.register(NoopJob.self) { job, _ in
            runs.ran(job.index)
            tracker.jobFinished()
        }
        registry.register(BatchDoneJob.self) { _, _ in }
        return try await withStore(capacity: jobs + 1) { store -> Figures in
            let batching = try batching(store)
            let client = SpoolClient(storage: store.storage, registry: registry)
            let batch = try await progress.track("\(label) enqueue", total: 1, count: { 0 }) {
                try await client.enqueueBatch(
                    (0..<jobs).map { NoopJob(index: $0) }, callbacks: BatchCallbacks(onComplete: client.job(BatchDoneJob(batch: 0))))
            }
            let (started, done) = try await progress.track("\(label) run", total: jobs, count: { tracker.finished }) {
                try await withWorker(
                    storage: store.storage, registry: registry, concurrency: concurrency, tracker: tracker,
                    timeout: .seconds(60) + .microseconds(100) * jobs, workload: .b2
                )
            }
            let tally = runs.tally()
            let record = try await batching.batch(batch.id)
            var figures = Figures(jobs: jobs)
            figures.jobsPerSecond = Double(jobs) / started.duration(to: done).seconds
            figures.finished = tally.finished
            figures.lost = tally.lost + (record?.count(.succeeded) == jobs ? 0 : 1)
            figures.twice = tally.twice
            return figures
        }
    }

    /// B3: batches of 10 no-ops, one every 50 ms, each with an `onComplete` callback: the time
    /// from the return of a batch's last job to the start of its callback (the outcome's flush,
    /// the bookkeeping, the callback's claim). Target: p99 under 50 ms.
    func callbackLatency(jobs: Int, concurrency: Int, label: String) async throws -> Figures {
        let perBatch = 10
        let batches = max(1, jobs / perBatch)
        let lastReturn = Mutex([UInt64](repeating: 0, count: batches))
        let latencies = LatencyRecorder(jobs: batches)
        let tracker = CompletionTracker(target: batches)
        let registry = JobRegistry()
        registry.register(NoopJob.self) { job, _ in
            let now = monotonicNanos()
            lastReturn.withLock { $0[job.index / perBatch] = max($0[job.index / perBatch], now) }
        }
        registry.register(BatchDoneJob.self) { job, _ in
            let started = monotonicNanos()
            let last = lastReturn.withLock { $0[job.batch] }
            latencies.record(job.batch, nanoseconds: started &- last)
            tracker.jobFinished()
        }
        return try await withStore(capacity: batches * (perBatch + 1)) { store -> Figures in
            _ = try batching(store)
            let client = SpoolClient(storage: store.storage, registry: registry)
            let interval = Duration.milliseconds(50)
            _ = try await progress.track("\(label) run", total: batches, count: { tracker.finished }) {
                try await withWorker(
                    storage: store.storage, registry: registry, concurrency: concurrency, tracker: tracker,
                    timeout: .seconds(60) + interval * batches, workload: .b3
                ) {
                    let start = ContinuousClock.now
                    for batch in 0..<batches {
                        try await Task.sleep(until: start + interval * batch, tolerance: .zero, clock: .continuous)
                        let members = (0..<perBatch).map { NoopJob(index: batch * perBatch + $0) }
                        _ = try await client.enqueueBatch(
                            members, callbacks: BatchCallbacks(onComplete: client.job(BatchDoneJob(batch: batch))))
                    }
                }
            }
            let sorted = latencies.sortedMilliseconds()
            var figures = Figures(jobs: batches)
            figures.setLatencies(sorted)
            return figures
        }
    }

    /// B4: a chain of `steps` no-ops, each depending on the one before, enqueued in one call;
    /// steps per second from the worker's start to the last step. Every step waits for the
    /// previous one's outcome to be stored, so this measures the latency of release, not
    /// throughput (the PostgreSQL target is 500 steps/s).
    func chain(steps: Int, concurrency: Int, label: String) async throws -> Figures {
        let runs = RunCounts(jobs: steps)
        let tracker = CompletionTracker(target: steps)
        let registry = JobRegistry()
        registry.register(NoopJob.self) { job, _ in
            runs.ran(job.index)
            tracker.jobFinished()
        }
        return try await withStore(capacity: steps) { store -> Figures in
            _ = try batching(store)
            let client = SpoolClient(storage: store.storage, registry: registry)
            var jobs: [NewJob] = []
            jobs.reserveCapacity(steps)
            for index in 0..<steps {
                let options = EnqueueOptions(dependsOn: jobs.last.map { [$0.id] } ?? [])
                jobs.append(client.job(NoopJob(index: index), options: options))
            }
            _ = try await client.enqueue(jobs)
            let (started, done) = try await progress.track("\(label) run", total: steps, count: { tracker.finished }) {
                try await withWorker(
                    storage: store.storage, registry: registry, concurrency: concurrency, tracker: tracker,
                    timeout: .seconds(60) + .milliseconds(20) * steps, workload: .b4
                )
            }
            let tally = runs.tally()
            var figures = Figures(jobs: steps)
            figures.jobsPerSecond = Double(steps) / started.duration(to: done).seconds
            figures.finished = tally.finished
            figures.lost = tally.lost
            figures.twice = tally.twice
            return figures
        }
    }
}
