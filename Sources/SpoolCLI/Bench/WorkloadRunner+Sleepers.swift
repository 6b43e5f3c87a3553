// WorkloadRunner: W5, many short async jobs.
import Foundation
import Spool

extension WorkloadRunner {
    func sleepers(jobs: Int, concurrency: Int, label: String) async throws -> Figures {
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
}
