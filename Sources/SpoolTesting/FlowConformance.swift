import Dispatch
import Foundation
import Spool

/// A job kind for the flow-control cases: remembers the queue it was sent to.
package struct QueueProbeJob: JobParameters {
    package static let kind = "spool.queue-probe"
    package var queue: String

    package init(queue: String) {
        self.queue = queue
    }
}

/// A job kind for the lane case: holds its lane thread until released.
package struct LaneProbeJob: JobParameters {
    package static let kind = "spool.lane-probe"
    package var index: Int

    package init(index: Int) {
        self.index = index
    }
}

extension StorageConformance {
    /// Enqueues `count` queue probes into each of `queues`.
    static func fill(_ client: SpoolClient, _ queues: [String], count: Int) async throws {
        for queue in queues {
            _ = try await client.enqueue(Array(repeating: QueueProbeJob(queue: queue), count: count), options: EnqueueOptions(queue: queue))
        }
    }

    /// Every stored job of `kind`, earliest run-at first.
    static func stored(_ storage: any JobStorage, kind: String) async throws -> [JobRecord] {
        try await storage.jobs(JobFilter(kind: kind), after: nil, limit: 1_000).jobs.sorted { $0.runAt < $1.runAt }
    }

    /// The scheduler cases' schedule: every minute of the conformance clock, a probe job.
    static func everyMinute(_ missedTicks: MissedTickPolicy) throws -> PeriodicSchedule {
        PeriodicSchedule(
            "conformance.minutely", .cron(try CronExpression("* * * * *")),
            job: ScheduledJob(QueueProbeJob(queue: "scheduled")), missedTicks: missedTicks
        )
    }

    /// Runs `scheduler` while `body` drives `clock`; `body` gets a function that moves the
    /// clock and waits until the scheduler has handled the move and sleeps again.
    static func runScheduler(
        _ scheduler: PeriodicScheduler, on clock: ManualClock,
        _ body: (_ advanceTo: (Date) async throws -> Void) async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await scheduler.run() }
            try await clock.waitForSleepers(atLeast: 1)
            try await body { date in
                clock.advance(to: date)
                try await clock.waitForSleepers(atLeast: 1)
            }
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    static func minute(_ count: Int, after start: Date) -> Date {
        start.addingTimeInterval(Double(count * 60))
    }

    static let flowCases: [ConformanceCase] = [
        ConformanceCase(name: "worker: weighted queues share a saturated worker, and strict order does not") { storage in
            let registry = JobRegistry()
            let starts = EventRecorder<String>()
            registry.register(QueueProbeJob.self) { job, _ in
                starts.record(job.queue)
                // A job's work: it holds its slot a moment, so both queues stay saturated.
                try await Task.sleep(for: .milliseconds(1))
            }
            let client = SpoolClient(storage: storage, registry: registry, middleware: [])
            try await fill(client, ["high", "low"], count: 300)
            let weighted = Worker(
                storage: storage, registry: registry,
                configuration: WorkerConfiguration(
                    queues: [WorkerQueue("high", weight: 3), WorkerQueue("low", weight: 1)], concurrency: 8, rescueInterval: nil),
                middleware: []
            )
            let first = try await withRunningWorker(weighted) {
                Array(try await starts.waitForCount(200, timeout: .seconds(60)).prefix(200))
            }
            let lowShare = Double(first.count { $0 == "low" }) / Double(first.count)
            try check(lowShare > 0.12 && lowShare < 0.38, "weights 3 : 1 with both saturated: low got \(lowShare) of the first 200 runs")

            // Strict order (no weights): low waits until high runs dry.
            let strictStarts = EventRecorder<String>()
            let strictRegistry = JobRegistry()
            strictRegistry.register(QueueProbeJob.self) { job, _ in
                strictStarts.record(job.queue)
                try await Task.sleep(for: .milliseconds(1))  // a job's work, as above
            }
            let strictClient = SpoolClient(storage: storage, registry: strictRegistry, middleware: [])
            let waitingHigh = try await storage.stats().count(.available, queue: "high")
            try await fill(strictClient, ["high"], count: max(0, 200 - waitingHigh))
            let strict = Worker(
                storage: storage, registry: strictRegistry,
                configuration: WorkerConfiguration(queues: ["high", "low"], concurrency: 8, rescueInterval: nil), middleware: []
            )
            let ordered = try await withRunningWorker(strict) {
                Array(try await strictStarts.waitForCount(150, timeout: .seconds(60)).prefix(150))
            }
            try check(
                ordered.allSatisfy { $0 == "high" },
                "strict order: low ran \(ordered.count { $0 == "low" }) of the first 150 while high had 200 waiting")
        },
        ConformanceCase(name: "worker: a weighted queue without jobs leaves its slots to the others (stealing)") { storage in
            let registry = JobRegistry()
            let running = EventRecorder<String>()
            let open = EventRecorder<Bool>()
            registry.register(QueueProbeJob.self) { job, _ in
                running.record(job.queue)
                try await open.waitForCount(1, timeout: .seconds(30))  // holds its slot until the gate opens
            }
            let client = SpoolClient(storage: storage, registry: registry, middleware: [])
            try await fill(client, ["high"], count: 20)
            let worker = Worker(
                storage: storage, registry: registry,
                configuration: WorkerConfiguration(
                    queues: [WorkerQueue("high", weight: 1), WorkerQueue("low", weight: 3)], concurrency: 8, rescueInterval: nil),
                middleware: []
            )
            try await withRunningWorker(worker) {
                // All 8 slots hold high jobs at once, though high's weighted share is only 2.
                let started = try await running.waitForCount(8, timeout: .seconds(30))
                try check(started.allSatisfy { $0 == "high" }, "only high has jobs: \(started)")
                open.record(true)
                _ = try await running.waitForCount(20, timeout: .seconds(30))
            }
        },
        ConformanceCase(name: "worker: a kind bound to a lane runs on its threads; with them all blocked, other jobs still run") {
            storage in
            let lane = BlockingPool(threads: 2, name: "conformance.lane")
            defer { lane.shutdown() }
            let registry = JobRegistry()
            // Holds every lane thread until released: blocking, not suspending, as CPU-bound or
            // blocking code does.
            let release = DispatchSemaphore(value: 0)
            let onLane = EventRecorder<Bool>()
            registry.register(LaneProbeJob.self, options: JobOptions(lane: lane)) { _, _ in
                onLane.record(lane.isCurrentThread)
                release.wait()
            }
            let probes = EventRecorder<String>()
            registry.register(QueueProbeJob.self) { job, _ in
                probes.record(job.queue)
                // Suspends on the shared pool: these jobs need it free while the lane is blocked.
                try await Task.sleep(for: .milliseconds(1))
            }
            let client = SpoolClient(storage: storage, registry: registry, middleware: [])
            let worker = Worker(
                storage: storage, registry: registry,
                configuration: WorkerConfiguration(concurrency: 20, rescueInterval: nil), middleware: []
            )
            try await withRunningWorker(worker) {
                // More blocking jobs than the machine has cooperative threads: on the shared
                // pool they would stall every other job; on the lane only its own threads.
                let blocking = try await client.enqueue((0..<4).map { LaneProbeJob(index: $0) })
                do {
                    _ = try await onLane.waitForCount(2, timeout: .seconds(30))
                    try await fill(client, ["default"], count: 30)
                    _ = try await probes.waitForCount(30, timeout: .seconds(30))
                    try check(onLane.count == 2, "the other blocking jobs wait for a lane thread (\(onLane.count) started)")
                } catch {
                    // Blocked lane threads would hold up the worker's and the lane's shutdown.
                    for _ in 0..<4 { release.signal() }
                    throw error
                }
                for _ in 0..<4 { release.signal() }
                for handle in blocking {
                    let state = try await handle.value.state
                    try check(state == .succeeded, "a blocking job ended \(state)")
                }
                try check(onLane.all == [true, true, true, true], "every blocking job ran on a lane thread: \(onLane.all)")
            }
        },
        ConformanceCase(name: "scheduler: after a pause, skip enqueues no missed tick and catch-up one") { storage in
            for policy in [MissedTickPolicy.skip, .catchUpOnce] {
                let clock = ManualClock(start: t0.addingTimeInterval(policy == .skip ? 0 : 86_400))
                let start = clock.now
                let scheduler = try PeriodicScheduler(storage: storage, schedules: [everyMinute(policy)], clock: clock, middleware: [])
                try await runScheduler(scheduler, on: clock) { advance in
                    try await advance(minute(1, after: start))
                    // A pause (the process stopped, the machine slept): it next wakes after
                    // ticks 2 to 6 passed.
                    try await advance(minute(6, after: start).addingTimeInterval(20))
                    try await advance(minute(7, after: start))
                }
                let runs = try await stored(storage, kind: QueueProbeJob.kind).map(\.runAt).filter { $0 >= start }
                let expected = policy == .skip ? [1, 7] : [1, 6, 7]
                try check(
                    runs == expected.map { minute($0, after: start) },
                    "\(policy): ticks enqueued \(runs.map { Int($0.timeIntervalSince(start) / 60) }), expected \(expected)"
                )
            }
        },
    ]
}
