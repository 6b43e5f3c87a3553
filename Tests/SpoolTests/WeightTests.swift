import Foundation
@testable import Spool
import SpoolTesting
import Synchronization
import Testing

struct Tagged: JobParameters {
    static let kind = "test.tagged"
    var queue: String
}

@Suite("Queue weights and stealing")
struct WeightTests {
    @Test("free slots split by weight, largest remainders first, nobody rounded to nothing")
    func shares() {
        #expect(WorkerCore.shares(of: 100, weights: [3, 1]) == [75, 25])
        #expect(WorkerCore.shares(of: 10, weights: [100, 1]) == [9, 1])
        #expect(WorkerCore.shares(of: 7, weights: [1, 1, 1]).sorted() == [2, 2, 3])
        #expect(WorkerCore.shares(of: 2, weights: [1, 1, 1]).reduce(0, +) == 2)
        #expect(WorkerCore.shares(of: 0, weights: [1, 2]) == [0, 0])
    }

    /// Runs a worker over a saturated `high` queue and a saturated `low` queue and returns the
    /// queues of the first `count` jobs to start.
    func firstStarts(_ queues: [WorkerQueue], count: Int) async throws -> [String] {
        let storage = MemoryStorage(capacity: 10_000)
        let registry = JobRegistry()
        let starts = EventRecorder<String>()
        registry.register(Tagged.self) { job, _ in
            starts.record(job.queue)
            try await Task.sleep(for: .milliseconds(1))
        }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [])
        for queue in ["high", "low"] {
            _ = try await client.enqueue(Array(repeating: Tagged(queue: queue), count: 1_000), options: EnqueueOptions(queue: queue))
        }
        let worker = Worker(storage: storage, registry: registry, configuration: WorkerConfiguration(queues: queues, concurrency: 8))
        return try await withRunningWorker(worker) {
            Array(try await starts.waitForCount(count, timeout: .seconds(30)).prefix(count))
        }
    }

    @Test("with both queues saturated, a weight of 1 against 3 still gets about a quarter of the runs")
    func weightedFairness() async throws {
        let weighted = try await firstStarts([WorkerQueue("high", weight: 3), WorkerQueue("low", weight: 1)], count: 800)
        let lowShare = Double(weighted.count { $0 == "low" }) / Double(weighted.count)
        #expect(lowShare > 0.15 && lowShare < 0.35, "low got \(lowShare) of the first 800 runs")
        // Without weights the order is strict: the low queue waits for the high one to run dry.
        let strict = try await firstStarts(["high", "low"], count: 800)
        #expect(strict.count { $0 == "low" } == 0, "strict order: low ran \(strict.count { $0 == "low" }) of the first 800")
    }

    @Test("a weighted queue with no jobs leaves its slots to the others (stealing)")
    func stealing() async throws {
        let storage = MemoryStorage()
        let registry = JobRegistry()
        let running = EventRecorder<String>()
        let open = Atomic<Bool>(false)
        registry.register(Tagged.self) { job, _ in
            running.record(job.queue)
            while !open.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(1)) }
        }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [])
        _ = try await client.enqueue(Array(repeating: Tagged(queue: "high"), count: 20), options: EnqueueOptions(queue: "high"))
        let worker = Worker(
            storage: storage, registry: registry,
            configuration: WorkerConfiguration(queues: [WorkerQueue("high", weight: 1), WorkerQueue("low", weight: 3)], concurrency: 8)
        )
        try await withRunningWorker(worker) {
            // All 8 slots hold high jobs at once, though high's weighted share is only 2.
            let started = try await running.waitForCount(8)
            #expect(started.allSatisfy { $0 == "high" })
            open.store(true, ordering: .releasing)
            _ = try await running.waitForCount(20)
        }
    }
}
