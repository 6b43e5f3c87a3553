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
        ("errors", "{{{"), ("errors", "[{\"attempt\":1,\"at\":1e30,\"message\":\"m\",\"reason\":\"error\"}]"), ("progress", "{\"fraction\":1e300}"),
        ("meta", "{{{"), ("meta", "\u{FF}"), ("expired", "9223372036854775807"), ("state", "bogus"), ("prio", "abc"),
    ]

    @Test("each corrupt field: the job reads in range or names the field; claims and listings go on")
    func corruptFields() async throws {
        try await RedisTestServer.withStorage { storage in
            let now = Date()
            let jobs = Self.corruptions.map { _ in
                NewJob(queue: "default", kind: "k", payload: JobPayload(bytes: Array("{}".utf8)), runAt: now, createdAt: now, timeout: .seconds(5))
            }
            _ = try await storage.enqueue(jobs, whenFull: .fail, now: now)
            for (job, corruption) in zip(jobs, Self.corruptions) {
                _ = try await storage.command(
                    [Array("HSET".utf8), Array("\(storage.prefix):job:\(job.id)".utf8), Array(corruption.field.utf8), Array(corruption.value.utf8)],
                    "corrupting a job"
                )
            }
            var refused: [String] = []
            for (job, corruption) in zip(jobs, Self.corruptions) {
                do {
                    let record = try #require(try await storage.job(job.id))
                    #expect(JobInput.priorityRange.contains(record.priority) && record.attempt >= 0, "\(corruption)")
                    #expect((1...JobInput.maximumAttempts).contains(record.maxAttempts) && record.runAt <= JobInput.latestRunAt, "\(corruption)")
                    #expect(record.timeout.map { $0 > .zero && $0 <= JobInput.maximumDuration } ?? true, "\(corruption)")
                } catch let error as SpoolError {
                    #expect(error.job == job.id && error.message.contains("field '\(corruption.field)'"), "\(error)")
                    refused.append(corruption.field)
                }
            }
            #expect(refused.sorted() == ["prio", "state"], "only a state that is no state and a priority that is no number refuse")
            let claimed = try await storage.claim(ClaimRequest(demands: [QueueDemand(queue: "default", limit: 100)], worker: "w", lease: .seconds(30)), now: now)
            #expect(claimed.allSatisfy { JobInput.priorityRange.contains($0.priority) && (1...JobInput.maximumAttempts).contains($0.maxAttempts) })
            #expect(!claimed.isEmpty)
        }
    }
}
