import Foundation
import Spool
import Testing

@testable import SpoolRedis

/// Workflows on Redis beyond the shared conformance cases: the paths only a lease rescue or a
/// prune takes, and batch hashes corrupted on a real server (values no Spool build writes) read
/// back: nothing traps; counts saturate; a field that cannot be read is refused with a
/// `SpoolError` naming it.
@Suite("Redis driver, workflows", .enabled(if: RedisTestServer.enabled, RedisTestServer.skipMessage))
struct RedisWorkflowTests {
    static let t0 = Date(timeIntervalSince1970: 1_900_000_000)

    static func job(_ kind: String = "member", queue: String = "default", dependsOn: [JobID] = []) -> NewJob {
        NewJob(
            queue: queue, kind: kind, payload: JobPayload(bytes: Array("{}".utf8)), runAt: t0, createdAt: t0,
            dependencies: dependsOn)
    }

    static func claim(_ storage: RedisStorage, _ limit: Int, lease: Duration = .seconds(30)) async throws -> [ClaimedJob] {
        try await storage.claim(
            ClaimRequest(demands: [QueueDemand(queue: "default", limit: limit)], worker: "w1", lease: lease), now: t0)
    }

    static func hset(_ storage: RedisStorage, _ key: String, _ field: String, _ value: String) async throws {
        _ = try await storage.command(
            [Array("HSET".utf8), Array("\(storage.prefix):\(key)".utf8), Array(field.utf8), Array(value.utf8)], "corrupting")
    }

    @Test("a poison job rescued to dead counts in its batch, fires on_dead, and cancels its dependents, in the rescue's script")
    func rescueToDead() async throws {
        try await RedisTestServer.withStorage { storage in
            let batch = NewBatch(
                jobs: [Self.job(), Self.job()],
                callbacks: BatchCallbacks(onComplete: Self.job("cb.complete", queue: "cb"), onDead: Self.job("cb.dead", queue: "cb")),
                createdAt: Self.t0)
            _ = try await storage.enqueueBatch(batch, whenFull: .fail, now: Self.t0)
            let dependent = Self.job("after", dependsOn: [batch.jobs[0].id])
            #expect(try await storage.enqueue([dependent], whenFull: .fail, now: Self.t0)[0].state == .pending)
            let claimed = try await Self.claim(storage, 2, lease: .seconds(1))
            #expect(claimed.count == 2 && claimed.allSatisfy { $0.batch == batch.id }, "a claimed job knows its batch")
            // The lease of both expires; with poisonAfter 0 the first expiry makes them dead.
            let report = try await storage.rescueExpired(now: Self.t0.addingTimeInterval(5), poisonAfter: 0)
            #expect(Set(report.poisoned) == Set(batch.jobs.map(\.id)))
            let record = try #require(try await storage.batch(batch.id))
            #expect(record.state == .completed && record.count(.dead) == 2, "\(record)")
            #expect(Set(record.callbackJobs.keys) == [.dead, .complete], "\(record.callbackJobs)")
            let cancelled = try #require(try await storage.job(dependent.id))
            #expect(cancelled.state == .cancelled && cancelled.lastError?.reason == "dependency_failed")
            #expect(
                cancelled.lastError?.message == "dependency \(batch.jobs[0].id) ended dead", "\(String(describing: cancelled.lastError))")
        }
    }

    @Test("deleting an unfinished job of a batch counts it cancelled; a cancel cascades down a 2,000-job chain in one script")
    func deleteAndLongCascade() async throws {
        try await RedisTestServer.withStorage { storage in
            let batch = NewBatch(
                jobs: [Self.job(), Self.job()],
                callbacks: BatchCallbacks(onSuccess: Self.job("cb.success", queue: "cb"), onComplete: Self.job("cb.complete", queue: "cb")),
                createdAt: Self.t0)
            _ = try await storage.enqueueBatch(batch, whenFull: .fail, now: Self.t0)
            #expect(try await storage.delete([batch.jobs[0].id]) == [batch.jobs[0].id])
            let claimed = try await Self.claim(storage, 10)
            #expect(claimed.map(\.id) == [batch.jobs[1].id])
            _ = try await storage.finish([JobCompletion(id: claimed[0].id, outcome: .succeeded(result: nil), at: Self.t0)], worker: "w1")
            let record = try #require(try await storage.batch(batch.id))
            #expect(record.state == .completed && record.total == 2, "\(record)")
            #expect(Set(record.callbackJobs.keys) == [.complete], "on_complete only: \(record.callbackJobs)")
            #expect(record.counts == [.succeeded: 1], "the deleted job is no longer among its jobs: \(record.counts)")

            var chain: [NewJob] = []
            for _ in 0..<2_000 { chain.append(Self.job("step", dependsOn: chain.last.map { [$0.id] } ?? [])) }
            let results = try await storage.enqueue(chain.reversed(), whenFull: .fail, now: Self.t0)
            #expect(results.filter { $0.state == .pending }.count == 1_999)
            #expect(try await storage.cancel([chain[0].id], now: Self.t0) == [chain[0].id])
            let stats = try await storage.stats()
            #expect(stats.count(.pending) == 0 && stats.count(.cancelled) == 2_000, "\(stats)")
            let last = try #require(try await storage.job(chain[1_999].id))
            #expect(last.lastError?.message == "dependency \(chain[1_998].id) ended cancelled")
        }
    }

    @Test("a prune drops finished batches with their jobs; an outcome for a job whose batch was pruned is stored")
    func prune() async throws {
        try await RedisTestServer.withStorage { storage in
            let batch = NewBatch(jobs: [Self.job()], createdAt: Self.t0)
            _ = try await storage.enqueueBatch(batch, whenFull: .fail, now: Self.t0)
            let other = NewBatch(jobs: [Self.job(), Self.job()], createdAt: Self.t0)
            _ = try await storage.enqueueBatch(other, whenFull: .fail, now: Self.t0)
            let claimed = try await Self.claim(storage, 3)
            let finish = claimed.filter { $0.batch == batch.id } + claimed.filter { $0.batch == other.id }.prefix(1)
            let lost = try await storage.finish(
                finish.map { JobCompletion(id: $0.id, outcome: .succeeded(result: nil), at: Self.t0) }, worker: "w1")
            #expect(lost.lost.isEmpty)
            #expect(try await storage.prune(finishedBefore: Self.t0.addingTimeInterval(1), limit: 100) == 2)
            #expect(try await storage.batch(batch.id) == nil, "the finished batch is gone")
            #expect(try await storage.batch(other.id)?.state == .running, "a running batch stays")
            #expect(try await storage.batches(after: nil, limit: 10).batches.map(\.id) == [other.id])
            // The running batch's pruned job no longer counts among its jobs' states.
            #expect(try await storage.batch(other.id)?.counts == [.running: 1])
        }
    }

    @Test("corrupt batch fields: counts saturate, a field that is no number or an unknown state names it, nothing traps")
    func corruptBatch() async throws {
        try await RedisTestServer.withStorage { storage in
            let batch = NewBatch(
                jobs: [Self.job(), Self.job()], callbacks: BatchCallbacks(onComplete: Self.job("cb", queue: "cb")), createdAt: Self.t0)
            _ = try await storage.enqueueBatch(batch, whenFull: .fail, now: Self.t0)
            let key = "batch:\(batch.id)"
            // Huge counts saturate (read in range; the script's arithmetic saturates too).
            try await Self.hset(storage, key, "total", "1e300")
            // A job joins a batch whose total is no integer (HINCRBY would fail halfway).
            var joining = Self.job("joining", queue: "elsewhere")
            joining.batch = batch.id
            #expect(try await storage.enqueue([joining], whenFull: .fail, now: Self.t0)[0].state == .available)
            try await Self.hset(storage, key, "succeeded", "9223372036854775807")
            var record = try #require(try await storage.batch(batch.id))
            #expect(record.count(.available) == 3 && record.total == StoredValue.count(.max), "\(record)")
            let claimed = try await Self.claim(storage, 1)
            let lost = try await storage.finish(
                [JobCompletion(id: claimed[0].id, outcome: .succeeded(result: nil), at: Self.t0)], worker: "w1")
            #expect(lost.lost.isEmpty, "an outcome is stored whatever its batch's counts hold")
            record = try #require(try await storage.batch(batch.id))
            #expect(record.total >= 0 && record.count(.succeeded) >= 0, "\(record)")
            // A count that is no number reads as 0 in the scripts, and refuses the read naming it.
            try await Self.hset(storage, key, "dead", "abc")
            await Self.expectRefused(storage, batch.id, naming: "field 'dead'")
            try await Self.hset(storage, key, "dead", "-5")
            #expect(try await storage.batch(batch.id)?.count(.dead) == 0, "a negative count reads as 0")
            try await Self.hset(storage, key, "cancelled", "abc")
            _ = try await storage.cancelBatch(batch.id, now: Self.t0)
            try await Self.hset(storage, key, "cancelled", "0")
            // A member with a state no build writes, and a batch without a creation time.
            try await Self.hset(storage, "job:\(batch.jobs[1].id)", "state", "bogus")
            await Self.expectRefused(storage, batch.id, naming: "'state'")
            try await Self.hset(storage, "job:\(batch.jobs[1].id)", "state", "succeeded")
            _ = try await storage.command(
                [Array("HDEL".utf8), Array("\(storage.prefix):\(key)".utf8), Array("created".utf8)], "corrupting")
            await Self.expectRefused(storage, batch.id, naming: "field 'created'")
            // A job's batch or dependency that is not an id: the job read names the field.
            try await Self.hset(storage, "job:\(batch.jobs[0].id)", "batch", "not-an-id")
            await Self.expectJobRefused(storage, batch.jobs[0].id, naming: "field 'batch'")
            try await Self.hset(storage, "job:\(batch.jobs[1].id)", "deps", "\(JobID()),zzz")
            await Self.expectJobRefused(storage, batch.jobs[1].id, naming: "field 'deps'")
            // A listed batch or member that is no id: the listing is refused, naming it.
            for (key, member) in [("batches", "not-a-batch"), ("batch:\(batch.id):jobs", "not-a-job")] {
                _ = try await storage.command(
                    [Array("ZADD".utf8), Array("\(storage.prefix):\(key)".utf8), Array("0".utf8), Array(member.utf8)], "corrupting")
            }
            do {
                _ = try await storage.batches(after: nil, limit: 10)
                Issue.record("a listing with a batch id that is no id was read")
            } catch let error as SpoolError {
                #expect(error.code == .storageUnavailable && error.message.contains("not-a-batch"), "\(error)")
            }
            do {
                _ = try await storage.jobs(inBatch: batch.id, after: nil, limit: 10)
                Issue.record("a listing with a member that is no id was read")
            } catch let error as SpoolError {
                #expect(error.code == .storageUnavailable && error.message.contains("not-a-job"), "\(error)")
            }
        }
    }

    static func expectRefused(_ storage: RedisStorage, _ id: BatchID, naming field: String) async {
        do {
            _ = try await storage.batch(id)
            Issue.record("a corrupt batch was read")
        } catch let error as SpoolError {
            #expect(error.code == .storageUnavailable && error.message.contains(field), "\(error)")
        } catch {
            Issue.record("not a SpoolError: \(error)")
        }
    }

    static func expectJobRefused(_ storage: RedisStorage, _ id: JobID, naming field: String) async {
        do {
            _ = try await storage.job(id)
            Issue.record("a corrupt job was read")
        } catch let error as SpoolError {
            #expect(error.code == .storageUnavailable && error.job == id && error.message.contains(field), "\(error)")
        } catch {
            Issue.record("not a SpoolError: \(error)")
        }
    }
}
