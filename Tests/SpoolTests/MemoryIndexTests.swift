import Foundation
import Spool
import Testing

/// The memory driver keeps its jobs in chunks of 64 consecutive ids (`JobIndex`). These tests
/// use ids the worker never makes: sparse, at chunk edges, and sharing a low half.
@Suite("Memory driver job index")
struct MemoryIndexTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func newJob(_ id: JobID) -> NewJob {
        NewJob(id: id, kind: "index.test", payload: JobPayload(bytes: Array("{}".utf8)), runAt: now, createdAt: now)
    }

    @Test func findsSparseIdsAndForgetsOnlyWhatIsDeleted() async throws {
        let storage = MemoryStorage(capacity: 10_000)
        let lows: [UInt64] =
            [0, 1, 62, 63, 64, 65, 127, 128, 1 << 40, (1 << 40) + 63, UInt64.max - 1, UInt64.max]
            + (0..<200).map { _ in UInt64.random(in: 0...UInt64.max) }
        let ids = Set(lows).map { JobID(high: 0x0190_0000_0000_0001, low: $0) }
        _ = try await storage.enqueue(ids.map(newJob), whenFull: .fail, now: now)
        for id in ids {
            #expect(try await storage.job(id)?.id == id)
        }
        let all = try await storage.jobs(JobFilter(), after: nil, limit: 10_000)
        #expect(Set(all.jobs.map(\.id)) == Set(ids))

        // Delete every other id: the rest stay, even their neighbours in the same chunk.
        let sorted = ids.sorted()
        let deleted = stride(from: 0, to: sorted.count, by: 2).map { sorted[$0] }
        #expect(Set(try await storage.delete(deleted)) == Set(deleted))
        for (index, id) in sorted.enumerated() {
            let found = try await storage.job(id)
            #expect((found == nil) == (index % 2 == 0), "\(id)")
        }
        #expect(try await storage.jobs(JobFilter(), after: nil, limit: 10_000).jobs.count == sorted.count - deleted.count)

        // A deleted id's place is free again.
        _ = try await storage.enqueue([newJob(deleted[0])], whenFull: .fail, now: now)
        #expect(try await storage.job(deleted[0])?.id == deleted[0])
    }

    @Test func anIdSharingTheLowHalfOfAStoredOneIsRefusedAndNotFound() async throws {
        let storage = MemoryStorage(capacity: 100)
        let stored = JobID(high: 0x0190_0000_0000_0001, low: 42)
        let twin = JobID(high: 0x0190_0000_0000_0002, low: 42)
        _ = try await storage.enqueue([newJob(stored)], whenFull: .fail, now: now)
        #expect(try await storage.job(twin) == nil)
        await #expect(throws: SpoolError.self) {
            _ = try await storage.enqueue([newJob(twin)], whenFull: .fail, now: now)
        }
        // Deleting the twin (not stored) leaves the stored job alone.
        #expect(try await storage.delete([twin]).isEmpty)
        #expect(try await storage.job(stored)?.id == stored)
    }

    @Test func aDrainedQueueLeavesNothingIndexedBeyondTheFinishedLimit() async throws {
        let storage = MemoryStorage(MemoryStorage.Configuration(capacity: 1_000, finishedLimit: 10))
        let ids = (0..<300).map { _ in JobID() }
        _ = try await storage.enqueue(ids.map(newJob), whenFull: .fail, now: now)
        let claimed = try await storage.claim(
            ClaimRequest(demands: [QueueDemand(queue: "default", limit: 300)], worker: "w", lease: .seconds(30), limit: 300), now: now
        )
        #expect(claimed.count == 300)
        let lost = try await storage.finish(
            claimed.map { JobCompletion(id: $0.id, outcome: .succeeded(result: nil), at: now) }, worker: "w"
        ).lost
        #expect(lost.isEmpty)
        let kept = try await storage.jobs(JobFilter(), after: nil, limit: 1_000).jobs.map(\.id)
        // The ten finished last are kept for inspection; the rest are forgotten.
        #expect(Set(kept) == Set(ids.suffix(10)))
        #expect(try await storage.job(ids[0]) == nil)
    }

    /// Leases live on the jobs, with a claim-ordered list for rescue that is not cleaned when a
    /// job finishes: a job claimed, retried and claimed again appears in it twice, and many
    /// finished jobs leave stale entries. Rescue must still see each running job once, and only
    /// running ones.
    @Test func leasesSurviveReclaimsAndStaleEntries() async throws {
        let storage = MemoryStorage(MemoryStorage.Configuration(capacity: 10_000, finishedLimit: 10))
        func claim(_ count: Int, worker: String, at time: Date) async throws -> [ClaimedJob] {
            try await storage.claim(
                ClaimRequest(demands: [QueueDemand(queue: "default", limit: count)], worker: worker, lease: .seconds(30), limit: count),
                now: time
            )
        }
        let again = JobID()
        _ = try await storage.enqueue([newJob(again)], whenFull: .fail, now: now)
        #expect(try await claim(1, worker: "a", at: now).map(\.id) == [again])
        let error = JobAttemptError(attempt: 1, at: now, message: "boom", reason: "error")
        #expect(
            try await storage.finish([JobCompletion(id: again, outcome: .retry(at: now, error: error), at: now)], worker: "a").lost.isEmpty)
        #expect(try await storage.job(again)?.leaseOwner == nil)
        #expect(try await claim(1, worker: "b", at: now).map(\.id) == [again])
        let running = try #require(try await storage.job(again))
        #expect(running.leaseOwner == "b")
        #expect(running.leaseExpiresAt == now.addingTimeInterval(30))
        // Another worker's outcome and heartbeat are refused.
        #expect(
            try await storage.finish([JobCompletion(id: again, outcome: .succeeded(result: nil), at: now)], worker: "a").lost == [again])
        #expect(
            try await storage.heartbeat([JobHeartbeat(id: again, progress: nil)], worker: "a", lease: .seconds(30), now: now).lost == [
                again
            ])

        // Three thousand jobs come and go, leaving stale entries behind.
        let churn = (0..<3_000).map { _ in JobID() }
        _ = try await storage.enqueue(churn.map(newJob), whenFull: .fail, now: now)
        for _ in 0..<30 {
            let batch = try await claim(100, worker: "c", at: now)
            #expect(
                try await storage.finish(batch.map { JobCompletion(id: $0.id, outcome: .succeeded(result: nil), at: now) }, worker: "c")
                    .lost.isEmpty)
        }
        // A heartbeat keeps b's lease a minute longer; then the lease runs out.
        let later = now.addingTimeInterval(60)
        #expect(
            try await storage.heartbeat([JobHeartbeat(id: again, progress: nil)], worker: "b", lease: .seconds(30), now: later).lost.isEmpty
        )
        #expect(try await storage.rescueExpired(now: later.addingTimeInterval(29), poisonAfter: 5).rescued.isEmpty)
        let report = try await storage.rescueExpired(now: later.addingTimeInterval(31), poisonAfter: 5)
        #expect(report.rescued == [again])
        let rescued = try #require(try await storage.job(again))
        #expect(rescued.state == .available)
        #expect(rescued.leaseOwner == nil)
        #expect(try await storage.stats().queues["default"]?[.running] == nil)
    }
}
