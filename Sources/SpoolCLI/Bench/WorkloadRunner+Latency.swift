// WorkloadRunner: W4 and L0-L2, queue latency under a steady rate, with and without CPU load.
import Foundation
import Spool

extension WorkloadRunner {
    /// W4 (and L0–L2): a producer enqueues a job every 5 ms; each job records when it started.
    /// L1 and L2 add CPU-bound jobs (20 ms of spinning each) in a queue `cpu`, enough of them to
    /// keep every core busy for the whole run, run by a worker of their own (two per core) beside
    /// the latency jobs' worker: on a lane of its default size (one thread per core but one; it
    /// stays saturated, with jobs waiting for its threads) (L1), or on the shared cooperative
    /// pool (L2). The CPU queue gets its own worker because a worker claims one
    /// batch at a time: with a durable store each claim is a round trip, and latency jobs would
    /// wait behind the CPU queue's claims, which is not what a lane is about.
    func latency(jobs: Int, concurrency: Int, label: String, workload: Workload = .w4) async throws -> Figures {
        let latencies = LatencyRecorder(jobs: jobs)
        let stageRecorder = stages ? StageRecorder() : nil
        let tracker = CompletionTracker(target: jobs)
        let registry = JobRegistry()
        registry.register(LatencyJob.self) { job, _ in
            let started = monotonicNanos()
            latencies.record(job.index, nanoseconds: started &- job.enqueuedNanos)
            stageRecorder?.started(job.index, at: started)
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
                    timeout: .seconds(60) + interval * jobs, workload: workload, alongside: cpuWorker, stages: stageRecorder
                ) {
                    // Deadline-based: job k is due at start + k × interval, however late the
                    // previous enqueue returned, so the rate does not drift.
                    let start = ContinuousClock.now
                    for index in 0..<jobs {
                        try await Task.sleep(until: start + interval * index, tolerance: .zero, clock: .continuous)
                        let enqueued = monotonicNanos()
                        let handle = try await client.enqueue(LatencyJob(index: index, enqueuedNanos: enqueued))
                        stageRecorder?.enqueued(index, id: handle.id, start: enqueued)
                    }
                }
            }
            let sorted = latencies.sortedMilliseconds()
            var figures = Figures(jobs: jobs)
            figures.setLatencies(sorted)
            figures.stages = stageRecorder?.figures()
            return figures
        }
    }
}
