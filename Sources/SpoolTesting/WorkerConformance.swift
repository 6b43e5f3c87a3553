import Foundation
import Spool
import Synchronization

/// A job kind for conformance cases: its `value` picks what the handler does.
package struct ProbeJob: JobParameters {
    package static let kind = "spool.probe"
    package var value: Int

    package init(value: Int) {
        self.value = value
    }
}

/// An error a probe handler throws; describes itself as its message.
package struct ProbeError: Error, CustomStringConvertible {
    package let message: String
    package init(message: String) { self.message = message }
    package var description: String { message }
}

/// Runs `worker` for the duration of `body`, then shuts it down gracefully and waits for it.
public func withRunningWorker<T: Sendable>(
    _ worker: Worker, _ body: @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await worker.run() }
        do {
            let value = try await body()
            worker.beginShutdown()
            try await group.waitForAll()
            return value
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

/// Waits until the stored job satisfies `predicate`, re-reading it every 2 ms.
///
/// A poll, for the states no storage announces (a retry or snooze stored as `scheduled`,
/// progress carried by a heartbeat): the worker stores outcomes in the background and no driver
/// signals them. Wait for a final state with ``JobStorage/waitForFinish(_:)`` (or a handle's
/// `value`) instead: drivers that observe finishes push it.
public func waitForJob(
    _ storage: any JobStorage, _ id: JobID, timeout: Duration = .seconds(10), _ what: String,
    _ predicate: @escaping @Sendable (JobRecord) -> Bool
) async throws -> JobRecord {
    try await Expectation.poll(every: .milliseconds(2), timeout: timeout, what) {
        if let record = try await storage.job(id), predicate(record) { return true }
        return false
    }
    return try await storage.job(id)!
}

extension StorageConformance {
    static func worker(
        _ storage: any JobStorage, _ registry: JobRegistry, clock: any JobClock, concurrency: Int = 4,
        drainTimeout: Duration = .seconds(25)
    ) -> Worker {
        Worker(
            storage: storage, registry: registry,
            configuration: WorkerConfiguration(concurrency: concurrency, drainTimeout: drainTimeout, rescueInterval: nil),
            middleware: [], clock: clock
        )
    }

    /// What ``loseRunningLease(_:ignoringCancellation:_:)`` saw.
    struct LostLeaseRun {
        /// The first job as stored after the worker stopped.
        let record: JobRecord?
        /// What the first job's handler saw: "cancelled", "slept" or another error.
        let handlerSaw: [String]
        /// The second job, run in the same (only) slot afterwards.
        let next: JobOutcome
        let stats: WorkerStats
    }

    /// Runs a job that waits until cancelled (or, `ignoringCancellation`, until a gate opens)
    /// on a worker of one slot, takes its lease away with `loseLease`, and moves the clock one
    /// heartbeat at a time until the handler sees cancellation; then runs a second job in the
    /// same slot.
    static func loseRunningLease(
        _ storage: any JobStorage, ignoringCancellation: Bool = false,
        _ loseLease: @escaping @Sendable (any JobStorage, JobID, Date) async throws -> Void
    ) async throws -> LostLeaseRun {
        let clock = ManualClock(start: t0)
        let registry = JobRegistry()
        let started = EventRecorder<Int>()
        let saw = EventRecorder<String>()
        let gate = EventRecorder<Bool>()
        let gateSignal = WakeSignal()
        registry.register(ProbeJob.self) { job, _ -> Int in
            started.record(job.value)
            guard job.value == 1 else { return job.value }
            if ignoringCancellation {
                await withTaskCancellationHandler {
                    while true {
                        let ticket = gateSignal.ticket()
                        if gate.count > 0 { break }
                        await gateSignal.waitIgnoringCancellation(ticket)
                    }
                } onCancel: {
                    saw.record("cancelled")
                }
                return 99
            }
            do {
                try await Task.sleep(for: .seconds(3600))  // runs until its lease is lost: the behaviour under test
            } catch {
                saw.record(error is CancellationError ? "cancelled" : "\(error)")
                throw error
            }
            saw.record("slept")
            return 99
        }
        let client = SpoolClient(storage: storage, registry: registry, clock: clock, middleware: [])
        let worker = worker(storage, registry, clock: clock, concurrency: 1)
        let heartbeat = worker.configuration.lease / 3
        let (id, next) = try await withRunningWorker(worker) {
            let id = try await client.enqueue(ProbeJob(value: 1)).id
            try await started.waitForCount(1)
            try await loseLease(storage, id, clock.now)
            // The heartbeat loop may not be asleep on the clock yet: advance a heartbeat at a time.
            try await Expectation.eventually("the handler sees cancellation at a heartbeat") {
                clock.advance(by: heartbeat)
                return (try? await saw.waitForCount(1, timeout: .milliseconds(50))) != nil
            }
            gate.record(true)
            gateSignal.signal()
            return (id, try await client.enqueue(ProbeJob(value: 2)).value)
        }
        return LostLeaseRun(record: try await storage.job(id), handlerSaw: saw.all, next: next, stats: worker.stats)
    }

    static let workerCases: [ConformanceCase] = [
        ConformanceCase(name: "worker: runs jobs and stores results") { storage in
            let clock = ManualClock(start: t0)
            let registry = JobRegistry()
            registry.register(ProbeJob.self) { job, _ in job.value * 2 }
            let client = SpoolClient(storage: storage, registry: registry, clock: clock, middleware: [])
            let outcomes = try await withRunningWorker(worker(storage, registry, clock: clock)) {
                let handles = try await client.enqueue((1...20).map { ProbeJob(value: $0) })
                return try await JobHandle.values(handles)
            }
            try check(outcomes.allSatisfy(\.succeeded), "every job succeeded")
            let doubled = try outcomes.map { try $0.result(as: Int.self) }
            try check(doubled == (1...20).map { $0 * 2 }, "results come back per job, got \(doubled)")
        },
        ConformanceCase(name: "worker: a permanent failure is dead at once") { storage in
            let clock = ManualClock(start: t0)
            let registry = JobRegistry()
            registry.register(ProbeJob.self, options: JobOptions(maxAttempts: 10)) { _, _ in
                throw PermanentFailure("the account no longer exists")
            }
            let client = SpoolClient(storage: storage, registry: registry, clock: clock, middleware: [])
            let outcome = try await withRunningWorker(worker(storage, registry, clock: clock)) {
                try await client.enqueue(ProbeJob(value: 1)).value
            }
            try check(outcome.state == .dead && outcome.record.attempt == 1, "dead after one attempt")
            try check(outcome.error?.reason == "permanent" && outcome.error?.message == "the account no longer exists", "with the reason")
        },
        ConformanceCase(name: "worker: failures retry with backoff, then dead") { storage in
            let clock = ManualClock(start: t0)
            let registry = JobRegistry()
            let runs = EventRecorder<Int>()
            registry.register(ProbeJob.self, options: JobOptions(maxAttempts: 3, retry: .fixed(.seconds(10)))) { _, context in
                runs.record(context.attempt)
                throw ProbeError(message: "attempt \(context.attempt) failed")
            }
            let client = SpoolClient(storage: storage, registry: registry, clock: clock, middleware: [])
            let record = try await withRunningWorker(worker(storage, registry, clock: clock)) {
                let id = try await client.enqueue(ProbeJob(value: 1)).id
                for attempt in 1...2 {
                    try await runs.waitForCount(attempt)
                    let waiting = try await waitForJob(storage, id, "attempt \(attempt) recorded as a retry") {
                        $0.state == .scheduled && $0.errors.count == attempt
                    }
                    try check(waiting.runAt == clock.now.addingTimeInterval(10), "retry \(attempt) waits 10 s: \(waiting.runAt)")
                    clock.advance(by: .seconds(10))
                }
                return try await storage.waitForFinish(id)
            }
            try check(runs.all == [1, 2, 3], "three attempts, got \(runs.all)")
            try check(record?.state == .dead, "dead after 3 attempts: \(String(describing: record?.state))")
            try check(record?.errors.map(\.message) == ["attempt 1 failed", "attempt 2 failed", "attempt 3 failed"], "every error kept")
        },
        ConformanceCase(name: "worker: snooze runs again without spending an attempt") { storage in
            let clock = ManualClock(start: t0)
            let registry = JobRegistry()
            let runs = EventRecorder<Int>()
            registry.register(ProbeJob.self) { _, context in
                runs.record(context.attempt)
                if runs.count == 1 { throw Snooze(for: .seconds(30)) }
            }
            let client = SpoolClient(storage: storage, registry: registry, clock: clock, middleware: [])
            let outcome = try await withRunningWorker(worker(storage, registry, clock: clock)) {
                let handle = try await client.enqueue(ProbeJob(value: 1))
                _ = try await waitForJob(storage, handle.id, "snoozed") { $0.state == .scheduled }
                clock.advance(by: .seconds(30))
                return try await handle.value
            }
            try check(outcome.succeeded && runs.all == [1, 1], "both runs are attempt 1, got \(runs.all)")
        },
        ConformanceCase(name: "worker: unknown kinds and undecodable payloads are dead") { storage in
            let clock = ManualClock(start: t0)
            let registry = JobRegistry()
            registry.register(ProbeJob.self) { _, _ in }
            let client = SpoolClient(storage: storage, registry: registry, clock: clock, middleware: [])
            let (unknown, garbled) = try await withRunningWorker(worker(storage, registry, clock: clock)) {
                let unknown = try await client.enqueue(kind: "no-such-kind", payload: Array("{}".utf8))
                let garbled = try await client.enqueue(kind: ProbeJob.kind, payload: Array("{\"value\": \"x\"}".utf8))
                return (try await unknown.value, try await garbled.value)
            }
            try check(
                unknown.state == .dead && unknown.error?.reason == "unknown_kind",
                "unknown kind: dead, \(String(describing: unknown.error))")
            try check(
                garbled.state == .dead && garbled.error?.reason == "undecodable_payload",
                "bad payload: dead, \(String(describing: garbled.error))")
            try check(garbled.error?.message.contains("value") == true, "the reason names the bad field: \(garbled.error?.message ?? "")")
        },
        ConformanceCase(name: "worker: a timeout cancels the attempt") { storage in
            let clock = ManualClock(start: t0)
            let registry = JobRegistry()
            let started = EventRecorder<Int>()
            let cancelled = EventRecorder<Bool>()
            registry.register(ProbeJob.self, options: JobOptions(maxAttempts: 1, timeout: .seconds(5))) { _, _ in
                started.record(1)
                do {
                    try await Task.sleep(for: .seconds(3600))  // runs until the timeout: the behaviour under test
                } catch {
                    cancelled.record(error is CancellationError)
                    throw error
                }
            }
            let client = SpoolClient(storage: storage, registry: registry, clock: clock, middleware: [])
            let worker = worker(storage, registry, clock: clock)
            let outcome = try await withRunningWorker(worker) {
                let handle = try await client.enqueue(ProbeJob(value: 1))
                try await started.waitForCount(1)
                // The attempt's deadline may not be asleep on the clock yet when the handler has
                // started: move the clock on 5 s at a time until the handler is cancelled.
                try await Expectation.eventually("the attempt times out") {
                    clock.advance(by: .seconds(5))
                    return (try? await cancelled.waitForCount(1, timeout: .milliseconds(50))) != nil
                }
                return try await handle.value
            }
            try check(cancelled.all == [true], "the handler saw CancellationError: \(cancelled.all)")
            try check(outcome.state == .dead && outcome.error?.reason == "timeout", "timed out: \(String(describing: outcome.error))")
            try check(worker.stats.timedOut == 1 && worker.stats.inFlight == 0, "counted as timed out, slot freed: \(worker.stats)")
        },
        ConformanceCase(name: "worker: cancelling a running job cancels its handler at a heartbeat") { storage in
            let run = try await loseRunningLease(storage) { storage, id, now in
                try check(try await storage.cancel([id], now: now) == [id], "the running job is cancelled")
            }
            try check(run.handlerSaw == ["cancelled"], "the handler saw CancellationError: \(run.handlerSaw)")
            try check(
                run.record?.state == .cancelled && run.record?.result == nil,
                "the job stays cancelled: \(String(describing: run.record?.state))")
            try check(run.next.succeeded, "the slot runs the next job")
            try check(
                run.stats.cancelled == 1 && run.stats.failed == 0 && run.stats.succeeded == 1 && run.stats.inFlight == 0,
                "stats: \(run.stats)")
        },
        ConformanceCase(name: "worker: a cancelled handler that ignores cancellation has its result discarded") { storage in
            let run = try await loseRunningLease(storage, ignoringCancellation: true) { storage, id, now in
                try check(try await storage.cancel([id], now: now) == [id], "the running job is cancelled")
            }
            try check(run.handlerSaw == ["cancelled"], "the handler was cancelled: \(run.handlerSaw)")
            try check(
                run.record?.state == .cancelled && run.record?.result == nil,
                "the late result is not stored: \(String(describing: run.record?.state))")
            try check(run.next.succeeded, "the slot runs the next job once the handler returned")
            try check(run.stats.cancelled == 1 && run.stats.succeeded == 1 && run.stats.inFlight == 0, "stats: \(run.stats)")
        },
        ConformanceCase(name: "worker: deleting a running job stops its handler") { storage in
            let run = try await loseRunningLease(storage) { storage, id, _ in
                try check(try await storage.delete([id]) == [id], "the running job is deleted")
            }
            try check(run.handlerSaw == ["cancelled"], "the handler saw CancellationError: \(run.handlerSaw)")
            try check(run.record == nil, "nothing wrote the job back")
            try check(run.next.succeeded, "the slot runs the next job")
            try check(
                run.stats.cancelled == 0 && run.stats.failed == 0 && run.stats.succeeded == 1 && run.stats.inFlight == 0,
                "stats: \(run.stats)")
        },
        ConformanceCase(name: "worker: graceful shutdown drains, then hands back stragglers") { storage in
            let clock = ManualClock(start: t0)
            let registry = JobRegistry()
            let started = EventRecorder<Int>()
            let gate = EventRecorder<Bool>()
            let stopped = EventRecorder<Bool>()
            registry.register(ProbeJob.self) { job, _ in
                started.record(job.value)
                if job.value == 1 {
                    try await gate.waitForCount(1, timeout: .seconds(30))  // finishes once released
                } else {
                    do {
                        try await Task.sleep(for: .seconds(3600))  // a straggler, until the drain timeout cancels it
                    } catch {
                        stopped.record(error is CancellationError)
                        throw error
                    }
                }
            }
            let client = SpoolClient(storage: storage, registry: registry, clock: clock, middleware: [])
            let worker = worker(storage, registry, clock: clock, concurrency: 2, drainTimeout: .seconds(20))
            let handles = try await client.enqueue([ProbeJob(value: 1), ProbeJob(value: 2)])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                try await started.waitForCount(2)
                worker.beginShutdown()
                gate.record(true)
                let drained = try await handles[0].value
                try check(drained.state == .succeeded, "the drained job succeeds: \(drained.state)")
                // Move past the drain timeout until the drain timer has seen it (it may not be
                // asleep yet on the first advance; advancing further is harmless): the straggler's
                // handler is cancelled, then the worker hands it back and stops.
                try await Expectation.eventually("the drain timeout cancels the straggler") {
                    clock.advance(by: .seconds(20))
                    return (try? await stopped.waitForCount(1, timeout: .milliseconds(50))) != nil
                }
                try await group.waitForAll()
            }
            let straggler = try await storage.job(handles[1].id)
            try check(
                straggler?.state == .available && straggler?.attempt == 0,
                "the straggler is handed back unspent: \(String(describing: straggler?.state))")
            try check(worker.stats.handedBack == 1 && worker.stats.succeeded == 1, "stats: \(worker.stats)")
        },
        ConformanceCase(name: "worker: several workers run each job exactly once") { storage in
            let clock = ManualClock(start: t0)
            let registry = JobRegistry()
            let total = 3000
            let runs = EventRecorder<Int>()
            registry.register(ProbeJob.self) { job, _ in runs.record(job.value) }
            let client = SpoolClient(storage: storage, registry: registry, clock: clock, middleware: [])
            _ = try await client.enqueue((0..<total).map { ProbeJob(value: $0) })
            let workers = (0..<4).map { _ in worker(storage, registry, clock: clock, concurrency: 8) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in workers { group.addTask { try await worker.run() } }
                try await runs.waitForCount(total, timeout: .seconds(60))
                for worker in workers { worker.beginShutdown() }
                try await group.waitForAll()
            }
            let values = runs.all
            try check(
                values.count == total && Set(values).count == total,
                "each of \(total) jobs ran once: \(values.count) runs, \(Set(values).count) distinct")
            let stats = try await storage.stats()
            try check(stats.count(.succeeded) == total || stats.count(.running) == 0, "no job left running: \(stats)")
        },
    ]
}
