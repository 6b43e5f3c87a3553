import Foundation
import Spool
import SpoolTesting
import Testing

@Suite("Worker: waiting for work")
struct ClaimWaitTests {
    /// A queue at its own concurrency cap is left out of the claim; if the claimer then waited
    /// for work in every queue, that queue's due jobs would end each wait at once and the
    /// claimer would spin on the store. It waits in the queues it claimed from, and a freed
    /// slot brings the capped queue back.
    @Test func aQueueAtItsCapDoesNotEndTheWaitOfTheOthers() async throws {
        let storage = RecordingStorage()
        let registry = JobRegistry()
        let started = EventRecorder<Int>()
        let release = EventRecorder<Void>()
        registry.register(Count.self, options: JobOptions(queue: "narrow")) { job, _ in
            started.record(job.index)
            if job.index == 0 { try await release.waitForCount(1) }
        }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [])
        let worker = Worker(
            storage: storage, registry: registry,
            configuration: WorkerConfiguration(
                queues: [WorkerQueue("narrow", concurrency: 1), WorkerQueue("wide")], concurrency: 4, rescueInterval: nil
            ),
            middleware: []
        )
        let outcomes = try await withRunningWorker(worker) {
            let handles = try await client.enqueue([Count(index: 0), Count(index: 1)])
            _ = try await started.waitForCount(1)
            // The first job holds the narrow queue's one slot and the second is due there: the
            // claimer's next wait is for work in the wide queue only.
            let waitsBefore = storage.waits.count
            let waits = try await storage.waits.waitForCount(waitsBefore + 1)
            #expect(waits.last == ["wide"])
            #expect(started.all == [0])
            release.record(())
            return try await JobHandle.values(handles)
        }
        #expect(outcomes.allSatisfy { $0.succeeded })
        #expect(started.all == [0, 1])
    }

    /// A snooze (or retry) shorter than the worker's idle wait runs when it is due: the memory
    /// store's finish wakes the sleeping claimer so that it sleeps until the nearer due time,
    /// instead of the whole idle wait.
    @Test func aShortSnoozeRunsWhenDueNotAfterTheIdleWait() async throws {
        let storage = MemoryStorage()
        let registry = JobRegistry()
        let clock = ManualClock()
        let attempts = EventRecorder<Int>()
        let release = EventRecorder<Void>()
        registry.register(Count.self) { _, context in
            attempts.record(context.attempt)
            guard attempts.count == 1 else { return }
            try await release.waitForCount(1)
            throw Snooze(for: .milliseconds(50))
        }
        let client = SpoolClient(storage: storage, registry: registry, clock: clock, middleware: [])
        let worker = Worker(
            storage: storage, registry: registry,
            configuration: WorkerConfiguration(concurrency: 2, rescueInterval: nil, idleWait: .seconds(3600)),
            middleware: [], clock: clock
        )
        let outcome = try await withRunningWorker(worker) {
            let handle = try await client.enqueue(Count(index: 0))
            _ = try await attempts.waitForCount(1)
            // The running job's heartbeat and the claimer (a free slot, no due job) sleep on the
            // clock: the claimer until its idle deadline, an hour on.
            try await clock.waitForSleepers(atLeast: 2)
            release.record(())
            // The memory store announces no snooze: read until the outcome is stored.
            try await Expectation.poll(every: .milliseconds(2), "the snooze is stored") {
                try await storage.job(handle.id)?.state == .scheduled
            }
            // Due 50 ms on: the store's finish woke the claimer to sleep until then instead.
            clock.advance(by: .milliseconds(50))
            _ = try await attempts.waitForCount(2, timeout: .seconds(5))
            return try await handle.value
        }
        #expect(outcome.succeeded)
    }
}
