import Foundation
import Spool
import Testing

@testable import SpoolRedis

/// Job hashes corrupted on a real server (HSET of values no Spool build writes), read back
/// through the driver's public API: nothing traps; a job reads in range or the read throws a
/// `SpoolError` naming the field and the job; a claim never throws for a bad field.
@Suite("Redis driver, corrupt hashes", .enabled(if: RedisTestServer.enabled, RedisTestServer.skipMessage))
struct RedisCorruptRowTests {
    static let corruptions: [(field: String, value: String)] = [
        ("prio", "1e30"), ("prio", "-9223372036854775809"), ("attempt", "-5"), ("attempt", "9223372036854775807"), ("max", "0"),
        ("max", "99999999999"), ("runat", "9223372036854775807"), ("created", "-1e300"), ("timeout", "-1"), ("timeout", "1e30"),
        ("errors", "{{{"), ("errors", "[{\"attempt\":1,\"at\":1e30,\"message\":\"m\",\"reason\":\"error\"}]"),
        ("progress", "{\"fraction\":1e300}"),
        ("meta", "{{{"), ("meta", "\u{FF}"), ("expired", "9223372036854775807"), ("state", "bogus"), ("prio", "abc"),
    ]

    @Test("each corrupt field: the job reads in range or names the field; claims and listings go on")
    func corruptFields() async throws {
        try await RedisTestServer.withStorage { storage in
            let now = Date()
            let jobs = Self.corruptions.map { _ in
                NewJob(
                    queue: "default", kind: "k", payload: JobPayload(bytes: Array("{}".utf8)), runAt: now, createdAt: now,
                    timeout: .seconds(5))
            }
            _ = try await storage.enqueue(jobs, whenFull: .fail, now: now)
            for (job, corruption) in zip(jobs, Self.corruptions) {
                _ = try await storage.command(
                    [
                        Array("HSET".utf8), Array("\(storage.prefix):job:\(job.id)".utf8), Array(corruption.field.utf8),
                        Array(corruption.value.utf8),
                    ],
                    "corrupting a job"
                )
            }
            var refused: [String] = []
            for (job, corruption) in zip(jobs, Self.corruptions) {
                do {
                    let record = try #require(try await storage.job(job.id))
                    #expect(JobInput.priorityRange.contains(record.priority) && record.attempt >= 0, "\(corruption)")
                    #expect(
                        (1...JobInput.maximumAttempts).contains(record.maxAttempts) && record.runAt <= JobInput.latestRunAt, "\(corruption)"
                    )
                    #expect(record.timeout.map { $0 > .zero && $0 <= JobInput.maximumDuration } ?? true, "\(corruption)")
                } catch let error as SpoolError {
                    #expect(error.job == job.id && error.message.contains("field '\(corruption.field)'"), "\(error)")
                    refused.append(corruption.field)
                }
            }
            #expect(refused.sorted() == ["prio", "state"], "only a state that is no state and a priority that is no number refuse")
            let claimed = try await storage.claim(
                ClaimRequest(demands: [QueueDemand(queue: "default", limit: 100)], worker: "w", lease: .seconds(30)), now: now)
            #expect(
                claimed.allSatisfy {
                    JobInput.priorityRange.contains($0.priority) && (1...JobInput.maximumAttempts).contains($0.maxAttempts)
                })
            #expect(!claimed.isEmpty)
        }
    }

    @Test(
        "outcomes of corrupt jobs are stored whole: a history that is not JSON starts afresh, an attempt that is no integer is given back")
    func corruptOutcomes() async throws {
        // Each made the finish script fail halfway through its writes (cjson.decode of the
        // history, HINCRBY of an attempt stored as 1e+30), and Redis does not roll back.
        try await RedisTestServer.withStorage { storage in
            let now = Date()
            let jobs = try await Self.enqueueJobs(3, on: storage, now: now)
            for (job, (field, value)) in zip(jobs, [("errors", "{{{"), ("attempt", "1e30"), ("attempt", "1e30")]) {
                _ = try await storage.command(
                    [Array("HSET".utf8), Array("\(storage.prefix):job:\(job.id)".utf8), Array(field.utf8), Array(value.utf8)],
                    "corrupting a job"
                )
            }
            let claimed = try await storage.claim(
                ClaimRequest(demands: [QueueDemand(queue: "default", limit: 3)], worker: "w", lease: .seconds(30)), now: now)
            #expect(Set(claimed.map(\.id)) == Set(jobs.map(\.id)))
            let at = now.addingTimeInterval(1)
            let completions = [
                JobCompletion(
                    id: jobs[0].id,
                    outcome: .retry(at: at.addingTimeInterval(60), error: JobAttemptError(attempt: 1, at: at, message: "m")), at: at),
                JobCompletion(id: jobs[1].id, outcome: .snooze(until: at.addingTimeInterval(60)), at: at),
                JobCompletion(id: jobs[2].id, outcome: .handBack, at: at),
            ]
            let lost = try await storage.finish(completions, worker: "w").lost
            #expect(lost.isEmpty, "every outcome stored: lost \(lost)")
            let records = try await jobs.asyncMap { try #require(try await storage.job($0.id)) }
            #expect(records.map(\.state) == [.scheduled, .scheduled, .available])
            #expect(records[0].errors.map(\.message) == ["m"], "the corrupt history started afresh: \(records[0].errors)")
            #expect(records[1].attempt >= 0 && records[2].attempt >= 0)
        }
    }
}

extension RedisCorruptRowTests {
    @Test("a corrupt count of jobs per queue and state starts afresh; claims and outcomes are stored whole")
    func corruptCounts() async throws {
        // HINCRBY of a count stored as "lots" (or one at the 64-bit limit) failed the claim and
        // the finish halfway through their writes.
        try await RedisTestServer.withStorage { storage in
            let now = Date()
            let jobs = try await Self.enqueueJobs(2, on: storage, now: now)
            for (field, value) in [("available:default", "lots"), ("running:default", "9223372036854775807")] {
                _ = try await storage.command(
                    [Array("HSET".utf8), Array("\(storage.prefix):counts".utf8), Array(field.utf8), Array(value.utf8)],
                    "corrupting a count")
            }
            let claimed = try await storage.claim(
                ClaimRequest(demands: [QueueDemand(queue: "default", limit: 2)], worker: "w", lease: .seconds(30)), now: now)
            #expect(Set(claimed.map(\.id)) == Set(jobs.map(\.id)), "both claimed")
            let at = now.addingTimeInterval(1)
            let lost = try await storage.finish(
                claimed.map { JobCompletion(id: $0.id, outcome: .succeeded(result: nil), at: at) }, worker: "w"
            )
            .lost
            #expect(lost.isEmpty)
            for job in jobs { #expect(try await storage.job(job.id)?.state == .succeeded) }
            let stats = try await storage.stats()
            #expect(stats.count(.succeeded) == 2 && stats.count(.available) >= 0 && stats.count(.running) >= 0, "\(stats)")
        }
    }

    @Test("a job hash without a queue does not stop a finish, rescue, retry or delete halfway; the other jobs are stored whole")
    func jobsWithoutAQueue() async throws {
        // Each script concatenated the missing queue into a key, or indexed a table with it,
        // after some of its writes, and Redis does not roll back.
        try await RedisTestServer.withStorage { storage in
            let now = Date()
            let jobs = try await Self.enqueueJobs(6, on: storage, now: now)
            let claimed = try await storage.claim(
                ClaimRequest(demands: [QueueDemand(queue: "default", limit: 6)], worker: "w", lease: .seconds(1)), now: now)
            #expect(claimed.count == 6)
            for job in jobs.prefix(4) {
                _ = try await storage.command(
                    [Array("HDEL".utf8), Array("\(storage.prefix):job:\(job.id)".utf8), Array("queue".utf8)], "corrupting a job")
            }
            let at = now.addingTimeInterval(0.5)
            let error = JobAttemptError(attempt: 1, at: at, message: "m")
            let completions = [
                JobCompletion(id: jobs[0].id, outcome: .succeeded(result: nil), at: at),
                JobCompletion(id: jobs[1].id, outcome: .retry(at: at.addingTimeInterval(60), error: error), at: at),
                JobCompletion(id: jobs[2].id, outcome: .dead(error: error), at: at),
                JobCompletion(id: jobs[4].id, outcome: .succeeded(result: nil), at: at),
            ]
            _ = try await storage.finish(completions, worker: "w")
            #expect(try await storage.job(jobs[4].id)?.state == .succeeded, "an intact job of the same finish is stored")
            // jobs[3] (no queue) and jobs[5] (intact) are still running; their leases expire.
            let rescue = try await storage.rescueExpired(now: now.addingTimeInterval(5), poisonAfter: 5)
            #expect(rescue.rescued.contains(jobs[5].id), "\(rescue)")
            #expect(try await storage.job(jobs[5].id)?.state == .available)
            _ = try await storage.retry([jobs[2].id], now: now)
            #expect(try await storage.delete(jobs.prefix(4).map(\.id)).count == 4)
            for job in jobs.prefix(4) { #expect(try await storage.job(job.id) == nil) }
        }
    }
}

extension RedisCorruptRowTests {
    /// `count` jobs of kind `k` in the default queue, due `now`, stored on `storage`.
    static func enqueueJobs(_ count: Int, on storage: RedisStorage, now: Date) async throws -> [NewJob] {
        let jobs = (0..<count).map { _ in NewJob(kind: "k", payload: JobPayload(bytes: Array("{}".utf8)), runAt: now, createdAt: now) }
        _ = try await storage.enqueue(jobs, whenFull: .fail, now: now)
        return jobs
    }
}

extension Array {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
