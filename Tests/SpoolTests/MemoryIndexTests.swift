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
        let lows: [UInt64] = [0, 1, 62, 63, 64, 65, 127, 128, 1 << 40, (1 << 40) + 63, UInt64.max - 1, UInt64.max]
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
        let lost = try await storage.finish(claimed.map { JobCompletion(id: $0.id, outcome: .succeeded(result: nil), at: now) }, worker: "w")
        #expect(lost.isEmpty)
        let kept = try await storage.jobs(JobFilter(), after: nil, limit: 1_000).jobs.map(\.id)
        // The ten finished last are kept for inspection; the rest are forgotten.
        #expect(Set(kept) == Set(ids.suffix(10)))
        #expect(try await storage.job(ids[0]) == nil)
    }
}
