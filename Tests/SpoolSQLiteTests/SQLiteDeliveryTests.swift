import Foundation
import Spool
@testable import SpoolSQLite
import SpoolTesting
import Testing

/// An enqueue hands its jobs to a worker of the same process that waits for work: claimed in
/// the enqueue's transaction under the claim's rules, delivered once it commits, never lost.
@Suite("SQLite: jobs handed to waiting workers", .timeLimit(.minutes(1)))
struct SQLiteDeliveryTests {
    func request(_ limit: Int, queues: [String] = ["default"], worker: String = "w1") -> ClaimRequest {
        ClaimRequest(demands: queues.map { QueueDemand(queue: $0, limit: limit) }, worker: worker, lease: .seconds(30))
    }

    @Test("a job enqueued while a worker waits is stored running under its lease and handed over as a claim returns it")
    func handOver() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        let waiter = storage.claimWaiters.register(request(5))
        let job = newJob(payload: #"{"n":1}"#, timeout: .seconds(7), metadata: ["trace": "abc"])
        let results = try await storage.enqueue([job], whenFull: .fail, now: t0)
        #expect(results.map(\.state) == [.running])
        let delivered = await storage.claimWaiters.withdraw(waiter)
        let claimed = try #require(delivered.first)
        #expect(delivered.count == 1)
        #expect(claimed.id == job.id && claimed.attempt == 1 && claimed.maxAttempts == 5 && claimed.queue == "default")
        #expect(claimed.payload.text == #"{"n":1}"# && claimed.timeout == .seconds(7))
        #expect(claimed.metadata == ["trace": "abc"] && claimed.runAt == t0 && claimed.createdAt == t0)
        let record = try #require(try await storage.job(job.id))
        #expect(record.state == .running && record.attempt == 1 && record.leaseOwner == "w1")
        #expect(record.leaseExpiresAt == t0.addingTimeInterval(30))
        // Nothing is left to claim, and the lease is the waiter's.
        #expect(try await claim(storage, 5, worker: "w2").isEmpty)
        let report = try await storage.finish([JobCompletion(id: job.id, outcome: .succeeded(result: nil), at: t0)], worker: "w1")
        #expect(report.lost.isEmpty)
        #expect(try await storage.job(job.id)?.state == .succeeded)
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

    @Test("paused queues, queues at a limit and other queues keep their jobs; unique jobs go through a claim")
    func claimRules() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        try await storage.setPaused(true, queue: "paused")
        var waiter = storage.claimWaiters.register(request(5, queues: ["paused"]))
        #expect(try await storage.enqueue([newJob(queue: "paused")], whenFull: .fail, now: t0).map(\.state) == [.available])
        #expect(await storage.claimWaiters.withdraw(waiter).isEmpty)

        try await storage.setLimits(QueueLimits(maxRunning: 1), queue: "capped")
        waiter = storage.claimWaiters.register(request(5, queues: ["capped"]))
        let capped = [newJob(queue: "capped"), newJob(queue: "capped")]
        _ = try await storage.enqueue(capped, whenFull: .fail, now: t0)
        #expect(await storage.claimWaiters.withdraw(waiter).map(\.id) == [capped[0].id], "one, within the limit")

        waiter = storage.claimWaiters.register(request(5, queues: ["mine"]))
        _ = try await storage.enqueue([newJob(queue: "theirs")], whenFull: .fail, now: t0)
        #expect(await storage.claimWaiters.withdraw(waiter).isEmpty)

        waiter = storage.claimWaiters.register(request(5))
        let unique = newJob(uniqueKey: "k")
        #expect(try await storage.enqueue([unique], whenFull: .fail, now: t0).map(\.state) == [.available])
        #expect(await storage.claimWaiters.withdraw(waiter).map(\.id) == [unique.id])
        #expect(try await storage.job(unique.id)?.state == .running)
    }

    @Test("a scheduled job is not handed over, and neither is anything of a batch that fails")
    func nothingOnRollback() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        var waiter = storage.claimWaiters.register(request(5))
        _ = try await storage.enqueue([newJob(runAt: t0.addingTimeInterval(60))], whenFull: .fail, now: t0)
        #expect(await storage.claimWaiters.withdraw(waiter).isEmpty)

        let existing = try await storage.enqueue([newJob(queue: "other")], whenFull: .fail, now: t0)[0].id
        waiter = storage.claimWaiters.register(request(5))
        var copy = newJob()
        copy.id = existing
        let error = await spoolError { _ = try await storage.enqueue([newJob(), copy], whenFull: .fail, now: t0) }
        #expect(error?.code == .invalidArgument)
        #expect(await storage.claimWaiters.withdraw(waiter).isEmpty)
        #expect(try await storage.stats().count(.running) == 0)
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

    @Test("a wait returns the jobs an enqueue handed it, and a withdrawal waits for a delivery in flight")
    func waitReturnsDelivery() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        let clock = ManualClock(start: t0)
        let waiting = Task { await storage.waitForWork(claiming: request(5), deadline: t0.addingTimeInterval(3600), clock: clock) }
        while storage.claimWaiters.waitingCount == 0 { await Task.yield() }
        let job = newJob()
        _ = try await storage.enqueue([job], whenFull: .fail, now: t0)
        #expect(await waiting.value.map(\.id) == [job.id])

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
