import Foundation
import Spool
@testable import SpoolSQLite
import SpoolTesting
import Testing

/// What the SQLite driver's hand-over does beyond the shared cases (`DeliveryConformance`):
/// batches, several waiters, and claims in the enqueue's transaction.
@Suite("SQLite: jobs handed to waiting workers", .timeLimit(.minutes(1)))
struct SQLiteDeliveryTests {
    func request(_ limit: Int, queues: [String] = ["default"], worker: String = "w1") -> ClaimRequest {
        ClaimRequest(demands: queues.map { QueueDemand(queue: $0, limit: limit) }, worker: worker, lease: .seconds(30))
    }

    @Test("a batch goes to the waiter in claim order, up to its free slots; the rest stay available")
    func claimOrderAndLimit() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        let waiter = storage.claimWaiters.register(request(2))
        let jobs = [newJob(priority: 1), newJob(priority: 5), newJob(priority: 3)]
        let results = try await storage.enqueue(jobs, whenFull: .fail, now: t0)
        #expect(results.map(\.state) == [.available, .running, .running])
        #expect(await storage.claimWaiters.withdraw(waiter).map(\.id) == [jobs[1].id, jobs[2].id])
        #expect(try await claim(storage, 5, worker: "w2").map(\.id) == [jobs[0].id])
    }

    @Test("a waiter gets the jobs a claim would take first: an older due job before the new one")
    func olderJobsFirst() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        let older = newJob(runAt: t0.addingTimeInterval(-5))
        _ = try await storage.enqueue([older], whenFull: .fail, now: t0)
        let waiter = storage.claimWaiters.register(request(1))
        let newer = newJob()
        #expect(try await storage.enqueue([newer], whenFull: .fail, now: t0).map(\.state) == [.available])
        #expect(await storage.claimWaiters.withdraw(waiter).map(\.id) == [older.id])
        #expect(try await storage.job(newer.id)?.state == .available)
    }

    @Test("another queue's job takes no waiter; a unique job goes to the waiter through a claim in the enqueue's transaction")
    func otherQueueAndUnique() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        var waiter = storage.claimWaiters.register(request(5, queues: ["mine"]))
        _ = try await storage.enqueue([newJob(queue: "theirs")], whenFull: .fail, now: t0)
        #expect(storage.claimWaiters.waitingCount == 1)
        #expect(await storage.claimWaiters.withdraw(waiter).isEmpty)

        waiter = storage.claimWaiters.register(request(5))
        let unique = newJob(uniqueKey: "k")
        #expect(try await storage.enqueue([unique], whenFull: .fail, now: t0).map(\.state) == [.available])
        #expect(await storage.claimWaiters.withdraw(waiter).map(\.id) == [unique.id])
        #expect(try await storage.job(unique.id)?.state == .running)
    }

    @Test("two waiters share a batch; each gets its own jobs under its own lease")
    func twoWaiters() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        let first = storage.claimWaiters.register(request(1, worker: "w1"))
        let second = storage.claimWaiters.register(request(1, worker: "w2"))
        let jobs = [newJob(), newJob(), newJob()]
        _ = try await storage.enqueue(jobs, whenFull: .fail, now: t0)
        #expect(await storage.claimWaiters.withdraw(first).map(\.id) == [jobs[0].id])
        #expect(await storage.claimWaiters.withdraw(second).map(\.id) == [jobs[1].id])
        #expect(try await storage.job(jobs[1].id)?.leaseOwner == "w2")
        #expect(try await storage.job(jobs[2].id)?.state == .available)
    }

    @Test("a withdrawal waits for a delivery in flight")
    func withdrawalWaitsForDelivery() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        // Taken by an enqueue whose transaction has not ended: the withdrawal waits for it.
        let waiters = ClaimWaiters()
        let id = waiters.register(request(1))
        #expect(waiters.take(for: ["default": 1]).map(\.id) == [id])
        let withdrawal = Task { await waiters.withdraw(id) }
        _ = try await storage.enqueue([newJob(queue: "x")], whenFull: .fail, now: t0)
        let claimed = try await claim(storage, 1, queue: "x")
        waiters.deliver(claimed, to: id)
        #expect(await withdrawal.value.map(\.id) == claimed.map(\.id) && claimed.count == 1)
        #expect(waiters.waitingCount == 0)
    }
}
