import Foundation
import Spool
@testable import SpoolSQLite
import SpoolTesting
import Testing

extension SQLiteStorageTests {
    // MARK: Semantics beyond the shared suite

    @Test("a duplicate id fails the whole batch")
    func duplicateIDFailsTheBatch() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        let existing = newJob()
        _ = try await storage.enqueue([existing], whenFull: .fail, now: t0)
        var copy = newJob()
        copy.id = existing.id
        let error = await spoolError { _ = try await storage.enqueue([newJob(), copy], whenFull: .fail, now: t0) }
        #expect(error?.code == .invalidArgument && error?.job == existing.id)
        #expect(try await storage.stats().count(.available) == 1, "nothing of the failed batch is stored")
        let invalid = await spoolError { _ = try await storage.enqueue([newJob(maxAttempts: 0)], whenFull: .fail, now: t0) }
        #expect(invalid?.code == .invalidArgument)
    }

    @Test("the error history keeps the newest entries up to the limit")
    func errorHistoryIsCapped() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        let id = try await storage.enqueue([newJob(maxAttempts: 100)], whenFull: .fail, now: t0)[0].id
        var now = t0
        let rounds = JobAttemptError.historyLimit + 5
        for round in 1...rounds {
            let claimed = try await claim(storage, 1, at: now)
            #expect(claimed.first?.attempt == round)
            let error = JobAttemptError(attempt: round, at: now, message: "failure \(round)")
            now = now.addingTimeInterval(1)
            let lost = try await storage.finish([JobCompletion(id: id, outcome: .retry(at: now, error: error), at: now)], worker: "w1").lost
            #expect(lost.isEmpty)
        }
        let record = try #require(try await storage.job(id))
        #expect(record.errors.count == JobAttemptError.historyLimit)
        #expect(record.errors.first?.message == "failure 6" && record.errors.last?.message == "failure \(rounds)")
    }

    @Test("a claim serves demands in order within the overall limit, skipping paused queues")
    func claimServesDemandsInOrder() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        let a = try await storage.enqueue((0..<3).map { _ in newJob(queue: "a") }, whenFull: .fail, now: t0).map(\.id)
        let b = try await storage.enqueue((0..<3).map { _ in newJob(queue: "b") }, whenFull: .fail, now: t0).map(\.id)
        let c = try await storage.enqueue((0..<3).map { _ in newJob(queue: "c") }, whenFull: .fail, now: t0).map(\.id)
        try await storage.setPaused(true, queue: "b")
        let request = ClaimRequest(
            demands: [QueueDemand(queue: "a", limit: 2), QueueDemand(queue: "b", limit: 5), QueueDemand(queue: "c", limit: 5)],
            worker: "w1", lease: .seconds(30), limit: 3
        )
        let claimed = try await storage.claim(request, now: t0).map(\.id)
        #expect(claimed == [a[0], a[1], c[0]])
        #expect(try await storage.job(b[0])?.state == .available)
    }

    @Test("a job cancelled by its handler records the reason with its attempt")
    func cancelledOutcome() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        let id = try await storage.enqueue([newJob(uniqueKey: "once")], whenFull: .fail, now: t0)[0].id
        _ = try await claim(storage, 1)
        _ = try await storage.finish([JobCompletion(id: id, outcome: .cancelled(reason: "user gave up"), at: t0)], worker: "w1")
        let record = try #require(try await storage.job(id))
        #expect(record.state == .cancelled && record.finishedAt == t0 && record.leaseOwner == nil)
        #expect(record.errors == [JobAttemptError(attempt: 1, at: t0, message: "user gave up", reason: "cancelled")])
        // The key is free again, and then a manual retry of the old job is refused.
        let fresh = try await storage.enqueue([newJob(uniqueKey: "once")], whenFull: .fail, now: t0)[0]
        #expect(!fresh.existing)
        #expect(try await storage.retry([id], now: t0).isEmpty, "another live job holds the key")
        _ = try await storage.delete([fresh.id])
        #expect(try await storage.retry([id], now: t0) == [id])
    }

    @Test("rescue resets with a normal end, and counts expiries in a row")
    func expiredLeasesResetOnNormalEnd() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        let id = try await storage.enqueue([newJob(maxAttempts: 100)], whenFull: .fail, now: t0)[0].id
        var now = t0
        for _ in 0..<2 {
            _ = try await claim(storage, 1, at: now)
            now = now.addingTimeInterval(31)
            #expect(try await storage.rescueExpired(now: now, poisonAfter: 2).rescued == [id])
        }
        #expect(try await storage.job(id)?.expiredLeases == 2)
        _ = try await claim(storage, 1, at: now)
        _ = try await storage.finish([JobCompletion(id: id, outcome: .handBack, at: now)], worker: "w1")
        let handedBack = try #require(try await storage.job(id))
        #expect(handedBack.expiredLeases == 0 && handedBack.attempt == 2 && handedBack.state == .available)
    }

    @Test("an empty result is kept as empty, not as no result")
    func emptyResult() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        let ids = try await storage.enqueue([newJob(), newJob()], whenFull: .fail, now: t0).map(\.id)
        _ = try await claim(storage, 2)
        _ = try await storage.finish(
            [
                JobCompletion(id: ids[0], outcome: .succeeded(result: []), at: t0),
                JobCompletion(id: ids[1], outcome: .succeeded(result: nil), at: t0),
            ], worker: "w1")
        #expect(try await storage.job(ids[0])?.result == [])
        #expect(try await storage.job(ids[1])?.result == nil)
    }
}
