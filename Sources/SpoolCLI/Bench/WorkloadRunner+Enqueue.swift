// WorkloadRunner: W1 and W2, enqueue one call at a time and in bulk.
import Foundation
import Spool

extension WorkloadRunner {
    func enqueueOneByOne(jobs: Int, label: String) async throws -> Figures {
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

    func enqueueInBulk(jobs: Int, label: String) async throws -> Figures {
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
    func enqueueNoops(
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
}
