// WorkloadRunner: W3 and W7, a worker draining a full queue (W7 behind a deep backlog).
import Foundation
import Spool

extension WorkloadRunner {
    /// W3: enqueue `jobs` no-ops, then time a worker draining them. W7 (`backlog` > 0): the
    /// same, with `backlog` jobs already waiting in the same queue, enqueued in bulk first. The
    /// backlog has priority 0 and the measured jobs priority 1, so the worker drains the
    /// measured jobs first while every claim still works through an index of a million more;
    /// backlog jobs the worker reaches before it stops are run by an uncounted handler.
    func drain(jobs: Int, concurrency: Int, label: String, backlog: Int = 0, workload: Workload = .w3) async throws -> Figures {
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
                    try await withTimeLimit(
                        limit, BenchError.phaseTimedOut(workload, phase: "enqueueing the backlog of \(backlog) jobs", after: limit)
                    ) {
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
}
