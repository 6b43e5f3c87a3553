import Foundation
import Spool
import SpoolTesting
import Synchronization
import Testing

struct Count: JobParameters {
    static let kind = "test.count"
    var index: Int
}

@Suite("Memory backpressure")
struct BackpressureTests {
    @Test func nonWaitingEnqueueFailsWithTheCapacity() async throws {
        let client = SpoolClient(storage: MemoryStorage(capacity: 2), middleware: [])
        _ = try await client.enqueue([Count(index: 0), Count(index: 1)])
        let error = await #expect(throws: SpoolError.self) {
            _ = try await client.enqueue(Count(index: 2), options: EnqueueOptions(whenFull: .fail))
        }
        #expect(error?.code == .queueFull)
        #expect(error?.message == "queue 'default' is full: it holds its capacity of 2 waiting jobs")
        #expect(try await client.storage.stats().count(.available) == 2, "the refused job was not stored")
    }

    /// Waits until the first job of a producer's two-job batch is stored in a queue of capacity
    /// 1: the producer then waits for space for the second (an event: the store wakes waiters
    /// for work when it stores a job; the producer took its space ticket before storing).
    static func waitForFirstPart(of storage: MemoryStorage) async throws {
        try await Expectation.eventually("the producer stores the first job of its batch") {
            await storage.waitForWork(queues: ["default"], deadline: Date().addingTimeInterval(10), clock: SystemClock())
            return try await storage.stats().count(.available) == 1
        }
    }

    @Test func suspendedProducerResumesWhenSpaceFrees() async throws {
        let storage = MemoryStorage(capacity: 1)
        let client = SpoolClient(storage: storage, middleware: [])
        let produced = EventRecorder<[JobID]>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { produced.record(try await client.enqueue([Count(index: 0), Count(index: 1)]).map(\.id)) }
            try await Self.waitForFirstPart(of: storage)
            // The producer cannot finish while the queue is full.
            #expect(produced.count == 0)
            let claimed = try await storage.claim(
                ClaimRequest(demands: [QueueDemand(queue: "default", limit: 1)], worker: "w", lease: .seconds(30)), now: Date()
            )
            #expect(claimed.count == 1)
            let ids = try await produced.waitForCount(1)[0]
            #expect(claimed.map(\.id) == [ids[0]])
            #expect(try await storage.job(ids[1])?.state == .available)
            try await group.waitForAll()
        }
    }

    @Test func cancellingAWaitingProducerStoresNothing() async throws {
        let storage = MemoryStorage(capacity: 1)
        let client = SpoolClient(storage: storage, middleware: [])
        let producer = Task { try await client.enqueue([Count(index: 0), Count(index: 1)]) }
        try await Self.waitForFirstPart(of: storage)
        producer.cancel()
        await #expect(throws: CancellationError.self) { _ = try await producer.value }
        #expect(try await storage.stats().count(.available) == 1, "nothing of what waited for space was stored")
    }
}

@Suite("Worker")
struct WorkerTests {
    @Test func hundredThousandJobsThroughEightWorkersRunExactlyOnce() async throws {
        let total = 100_000
        let storage = MemoryStorage(capacity: total)
        let registry = JobRegistry()
        let runs = Mutex([UInt8](repeating: 0, count: total))
        let done = EventRecorder<Void>()
        let finished = Atomic<Int>(0)
        registry.register(Count.self) { job, _ in
            runs.withLock { $0[job.index] &+= 1 }
            if finished.wrappingAdd(1, ordering: .relaxed).newValue == total { done.record(()) }
        }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [])
        for start in stride(from: 0, to: total, by: 10_000) {
            _ = try await client.enqueue((start..<start + 10_000).map { Count(index: $0) })
        }
        let workers = (0..<8).map { index in
            Worker(
                storage: storage, registry: registry, configuration: WorkerConfiguration(concurrency: 16, workerID: "w\(index)"),
                middleware: [])
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in workers { group.addTask { try await worker.run() } }
            try await done.waitForCount(1, timeout: .seconds(120))
            for worker in workers { worker.beginShutdown() }
            try await group.waitForAll()
        }
        let counts = runs.withLock { $0 }
        #expect(counts.allSatisfy { $0 == 1 }, "every job ran exactly once")
        #expect(workers.reduce(0) { $0 + $1.stats.succeeded } == total)
        #expect(workers.allSatisfy { $0.stats.succeeded > 0 }, "every worker took part")
        let stats = try await storage.stats()
        #expect(stats.count(.available) == 0 && stats.count(.running) == 0)
    }

    /// Idle runners are woken one by one, each waking the next while jobs wait: when handlers
    /// suspend, every slot must still end up running a job at the same time.
    @Test func suspendedHandlersFillEverySlot() async throws {
        let slots = 40
        let storage = MemoryStorage()
        let registry = JobRegistry()
        let started = EventRecorder<Void>()
        let release = EventRecorder<Void>()
        registry.register(Count.self) { _, _ in
            started.record(())
            try await release.waitForCount(1, timeout: .seconds(60))
        }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [])
        let worker = Worker(
            storage: storage, registry: registry, configuration: WorkerConfiguration(concurrency: slots, rescueInterval: nil),
            middleware: []
        )
        try await withRunningWorker(worker) {
            // Two claims' worth, enqueued while the runners are idle, then more once they run.
            let first = try await client.enqueue((0..<slots / 2).map { Count(index: $0) })
            try await started.waitForCount(slots / 2, timeout: .seconds(30))
            let second = try await client.enqueue((slots / 2..<slots * 2).map { Count(index: $0) })
            try await started.waitForCount(slots, timeout: .seconds(30))
            #expect(worker.stats.inFlight == slots)
            release.record(())
            let outcomes = try await JobHandle.values(first + second)
            #expect(outcomes.count == slots * 2 && outcomes.allSatisfy { $0.succeeded })
        }
    }

    /// Two runs of one worker at once would share its slots and outcomes (outcomes were lost
    /// so): the second is refused, naming the worker; the first goes on and stores outcomes.
    @Test func aSecondRunOfARunningWorkerIsRefused() async throws {
        let storage = MemoryStorage()
        let registry = JobRegistry()
        registry.register(Count.self) { _, _ in }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [])
        let worker = Worker(
            storage: storage, registry: registry, configuration: WorkerConfiguration(rescueInterval: nil, workerID: "w-twice"),
            middleware: []
        )
        try await withRunningWorker(worker) {
            let first = try await client.enqueue(Count(index: 0))
            #expect(try await first.value.succeeded, "the first run runs jobs")
            let error = await #expect(throws: SpoolError.self) { try await worker.run() }
            #expect(
                error?.code == .invalidArgument && error?.message.contains("'w-twice' is already running") == true,
                "\(String(describing: error))")
            let second = try await client.enqueue(Count(index: 1))
            #expect(try await second.value.succeeded, "the first run goes on")
        }
    }

    @Test func perQueueConcurrencyIsABound() async throws {
        let storage = MemoryStorage()
        let registry = JobRegistry()
        let running = Atomic<Int>(0)
        let peak = Atomic<Int>(0)
        let clock = ManualClock()
        registry.register(Count.self, options: JobOptions(queue: "narrow")) { _, _ in
            let now = running.wrappingAdd(1, ordering: .relaxed).newValue
            peak.max(now, ordering: .relaxed)
            await Task.yield()
            try await Task.sleep(for: .milliseconds(1))  // a job's work: runs overlap while it holds its slot
            running.wrappingSubtract(1, ordering: .relaxed)
        }
        let client = SpoolClient(storage: storage, registry: registry, clock: clock, middleware: [])
        let worker = Worker(
            storage: storage, registry: registry,
            configuration: WorkerConfiguration(queues: [WorkerQueue("narrow", concurrency: 2)], concurrency: 10, rescueInterval: nil),
            middleware: [], clock: clock
        )
        let outcomes = try await withRunningWorker(worker) {
            try await JobHandle.values(try await client.enqueue((0..<40).map { Count(index: $0) }))
        }
        #expect(outcomes.allSatisfy { $0.succeeded })
        #expect(peak.load(ordering: .relaxed) <= 2)
        #expect(peak.load(ordering: .relaxed) >= 1)
    }

    @Test func progressIsStoredWithTheNextHeartbeat() async throws {
        let storage = MemoryStorage()
        let registry = JobRegistry()
        let clock = ManualClock()
        let reported = EventRecorder<Void>()
        let release = EventRecorder<Void>()
        registry.register(Count.self) { _, context in
            context.reportProgress(0.25, message: "a quarter")
            reported.record(())
            try await release.waitForCount(1)
        }
        let client = SpoolClient(storage: storage, registry: registry, clock: clock, middleware: [])
        let worker = Worker(
            storage: storage, registry: registry,
            configuration: WorkerConfiguration(lease: .seconds(30), heartbeatInterval: .seconds(10), rescueInterval: nil),
            middleware: [], clock: clock
        )
        try await withRunningWorker(worker) {
            let handle = try await client.enqueue(Count(index: 0))
            try await reported.waitForCount(1)
            try await clock.waitForSleepers(atLeast: 1)
            clock.advance(by: .seconds(10))
            let record = try await waitForJob(storage, handle.id, "progress stored") { $0.progress != nil }
            #expect(record.progress == JobProgress(fraction: 0.25, message: "a quarter"))
            #expect(record.leaseExpiresAt == clock.now.addingTimeInterval(30), "the heartbeat renewed the lease")
            release.record(())
            #expect(try await handle.value.succeeded)
        }
    }

    @Test func cancellingARunningJobReachesItsHandlerWithinAboutAHeartbeat() async throws {
        let storage = MemoryStorage()
        let registry = JobRegistry()
        let started = EventRecorder<JobID>()
        let cancelled = EventRecorder<Void>()
        registry.register(Count.self) { _, context in
            started.record(context.id)
            do {
                try await Task.sleep(for: .seconds(60))  // runs until cancelled: the behaviour under test
            } catch is CancellationError {
                cancelled.record(())
                throw CancellationError()
            }
        }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [])
        // A 600 ms lease: a heartbeat every 200 ms, on the real clock.
        let worker = Worker(
            storage: storage, registry: registry,
            configuration: WorkerConfiguration(concurrency: 2, lease: .milliseconds(600), rescueInterval: nil), middleware: []
        )
        let id = try await withRunningWorker(worker) {
            let id = try await client.enqueue(Count(index: 0)).id
            try await started.waitForCount(1)
            #expect(try await storage.cancel([id], now: Date()) == [id])
            // Within about a heartbeat (200 ms); the bound allows for a loaded machine.
            try await cancelled.waitForCount(1, timeout: .seconds(3))
            return id
        }
        #expect(try await storage.job(id)?.state == .cancelled)
        #expect(worker.stats.cancelled == 1 && worker.stats.failed == 0 && worker.stats.inFlight == 0, "\(worker.stats)")
    }

    @Test func middlewareWrapsEnqueueAndRun() async throws {
        struct Tagging: JobRunMiddleware {
            let seen: EventRecorder<String>
            func willEnqueue(_ jobs: inout [NewJob]) async throws {
                for index in jobs.indices { jobs[index].metadata["tenant"] = "acme" }
            }
            func run(
                _ job: ClaimedJob, context: JobContext, next: (ClaimedJob, JobContext) async throws -> [UInt8]?
            ) async throws -> [UInt8]? {
                seen.record("before \(job.kind)")
                defer { seen.record("after \(job.kind)") }
                return try await next(job, context)
            }
            func didRun(_ report: JobRunReport) {
                seen.record("outcome \(report.outcome.label)")
            }
        }
        let seen = EventRecorder<String>()
        let storage = MemoryStorage()
        let registry = JobRegistry()
        registry.register(Count.self) { _, context in
            seen.record("handler tenant=\(context.metadata["tenant"] ?? "-")")
        }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [Tagging(seen: seen)])
        let worker = Worker(storage: storage, registry: registry, middleware: [Tagging(seen: seen)])
        let outcome = try await withRunningWorker(worker) {
            try await client.enqueue(Count(index: 1)).value
        }
        #expect(outcome.succeeded)
        #expect(seen.all == ["before test.count", "handler tenant=acme", "after test.count", "outcome succeeded"])
    }
}

@Suite("Blocking work")
struct BlockingPoolTests {
    /// A gate blocking jobs wait on with a real, thread-blocking wait.
    final class Gate: @unchecked Sendable {
        private let condition = NSCondition()
        private var open = false

        func wait() {
            condition.lock()
            while !open { condition.wait() }
            condition.unlock()
        }

        func release() {
            condition.lock()
            open = true
            condition.broadcast()
            condition.unlock()
        }
    }

    struct Block: JobParameters {
        static let kind = "test.block"
    }

    @Test func otherJobsKeepFlowingWhileBlockingJobsHoldThePool() async throws {
        // More blocking jobs than the cooperative pool has threads: on the shared pool they would
        // starve everything; on their own pool they cannot.
        let blockers = ProcessInfo.processInfo.activeProcessorCount + 2
        let pool = BlockingPool(threads: blockers)
        defer { pool.shutdown() }
        let gate = Gate()
        let blocked = EventRecorder<Void>()
        let light = EventRecorder<Int>()
        let registry = JobRegistry()
        registry.register(Block.self) { _, _ in
            try await pool.run {
                blocked.record(())
                gate.wait()  // a truly blocking wait
            }
        }
        registry.register(Count.self) { job, _ in light.record(job.index) }
        let storage = MemoryStorage()
        let client = SpoolClient(storage: storage, registry: registry, middleware: [])
        let worker = Worker(
            storage: storage, registry: registry, configuration: WorkerConfiguration(concurrency: blockers + 4), middleware: [])
        try await withRunningWorker(worker) {
            let blocking = try await client.enqueue(Array(repeating: Block(), count: blockers))
            try await blocked.waitForCount(blockers)
            _ = try await client.enqueue((0..<200).map { Count(index: $0) })
            try await light.waitForCount(200, timeout: .seconds(20))
            for handle in blocking { #expect(try await handle.record()?.state == .running, "still blocked") }
            gate.release()
            #expect(try await JobHandle.values(blocking).allSatisfy(\.succeeded))
        }
    }
}

extension BlockingPoolTests {
    @Test func runExecutesOnAPoolThread() async throws {
        let pool = BlockingPool(threads: 2)
        defer { pool.shutdown() }
        let onPool = try await pool.run { pool.isCurrentThread }
        #expect(onPool)
        #expect(!pool.isCurrentThread)
    }
}

extension BackpressureTests {
    @Test func aNonWaitingBatchIsStoredWholeOrNotAtAll() async throws {
        let storage = MemoryStorage(capacity: 3)
        let client = SpoolClient(storage: storage, middleware: [])
        _ = try await client.enqueue([Count(index: 0), Count(index: 1)])
        let error = await #expect(throws: SpoolError.self) {
            _ = try await client.enqueue([Count(index: 2), Count(index: 3)], options: EnqueueOptions(whenFull: .fail))
        }
        #expect(error?.code == .queueFull)
        #expect(try await storage.stats().count(.available) == 2, "no part of the refused batch was stored")
    }
}
