import Foundation
import Spool

/// A ``JobStorage`` that passes every call on to `base` and records the calls a test waits for:
/// each wait for work (with its queues) and each read of the stats, so a test waits on those
/// events (a worker parked, a server's sampler ran) instead of sleeping.
package final class RecordingStorage: JobStorage {
    /// The store every call goes to.
    package let base: any JobStorage
    /// The queues of each ``JobLeasing/waitForWork(queues:deadline:clock:)`` call, recorded
    /// when the call begins.
    package let waits = EventRecorder<[String]>()
    /// One event per ``JobInspecting/stats()`` call, recorded when it returns.
    package let statsReads = EventRecorder<Void>()

    package init(_ base: any JobStorage = MemoryStorage()) {
        self.base = base
    }

    package func waitForWork(queues: [String], deadline: Date, clock: any JobClock) async {
        waits.record(queues)
        await base.waitForWork(queues: queues, deadline: deadline, clock: clock)
    }

    package func stats() async throws -> StorageStats {
        defer { statsReads.record(()) }
        return try await base.stats()
    }

    package func enqueue(_ jobs: [NewJob], whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        try await base.enqueue(jobs, whenFull: whenFull, now: now)
    }
    package func claim(_ request: ClaimRequest, now: Date) async throws -> [ClaimedJob] { try await base.claim(request, now: now) }
    package func finish(_ completions: [JobCompletion], worker: String) async throws -> LeaseReport {
        try await base.finish(completions, worker: worker)
    }
    package func heartbeat(_ beats: [JobHeartbeat], worker: String, lease: Duration, now: Date) async throws -> LeaseReport {
        try await base.heartbeat(beats, worker: worker, lease: lease, now: now)
    }
    package func rescueExpired(now: Date, poisonAfter: Int) async throws -> RescueReport {
        try await base.rescueExpired(now: now, poisonAfter: poisonAfter)
    }
    package func job(_ id: JobID) async throws -> JobRecord? { try await base.job(id) }
    package func jobs(_ filter: JobFilter, after: JobID?, limit: Int) async throws -> JobPage {
        try await base.jobs(filter, after: after, limit: limit)
    }
    package func retry(_ ids: [JobID], now: Date) async throws -> [JobID] { try await base.retry(ids, now: now) }
    package func cancel(_ ids: [JobID], now: Date) async throws -> [JobID] { try await base.cancel(ids, now: now) }
    package func delete(_ ids: [JobID]) async throws -> [JobID] { try await base.delete(ids) }
    package func prune(finishedBefore before: Date, limit: Int) async throws -> Int {
        try await base.prune(finishedBefore: before, limit: limit)
    }
    package func setPaused(_ paused: Bool, queue: String) async throws { try await base.setPaused(paused, queue: queue) }
    package func pausedQueues() async throws -> Set<String> { try await base.pausedQueues() }
    package func setLimits(_ limits: QueueLimits, queue: String) async throws { try await base.setLimits(limits, queue: queue) }
    package func queueLimits() async throws -> [String: QueueLimits] { try await base.queueLimits() }
}
