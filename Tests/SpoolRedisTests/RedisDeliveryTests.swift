import Foundation
import Spool
import SpoolTesting
import Testing

@testable import SpoolRedis

/// An enqueue of one due job while a worker of the same process waits in its queue stores the job
/// as claimed for that worker, in its one script, when a claim right after it would return it.
@Suite(
    "Redis driver, jobs handed to waiting workers", .enabled(if: RedisTestServer.enabled, RedisTestServer.skipMessage),
    .timeLimit(.minutes(2)))
struct RedisDeliveryTests {
    static func request(_ queue: String = "default", worker: String = "w1") -> ClaimRequest {
        ClaimRequest(demands: [QueueDemand(queue: queue, limit: 5)], worker: worker, lease: .seconds(30))
    }

    static func job(queue: String = "default", runAt: Date, uniqueKey: String? = nil, metadata: [String: String] = [:]) -> NewJob {
        NewJob(
            queue: queue, kind: "noop", payload: JobPayload(bytes: Array(#"{"n":1}"#.utf8)), priority: 3, maxAttempts: 4, runAt: runAt,
            createdAt: runAt, uniqueKey: uniqueKey, timeout: .seconds(9), metadata: metadata)
    }

    @Test("the job is stored running under the waiter's lease and handed over as a claim returns it")
    func handOver() async throws {
        try await RedisTestServer.withStorage { storage in
            let now = Date(timeIntervalSince1970: 1_893_456_000)
            let waiter = storage.claimWaiters.register(Self.request())
            let job = Self.job(runAt: now, metadata: ["trace": "abc"])
            #expect(try await storage.enqueue([job], whenFull: .fail, now: now).map(\.state) == [.running])
            let claimed = try #require(await storage.claimWaiters.withdraw(waiter).first)
            #expect(claimed.id == job.id && claimed.attempt == 1 && claimed.maxAttempts == 4 && claimed.priority == 3)
            #expect(claimed.payload.text == #"{"n":1}"# && claimed.timeout == .seconds(9) && claimed.metadata == ["trace": "abc"])
            #expect(claimed.runAt == now && claimed.createdAt == now)
            let record = try #require(try await storage.job(job.id))
            #expect(record.state == .running && record.attempt == 1 && record.leaseOwner == "w1")
            #expect(record.leaseExpiresAt == now.addingTimeInterval(30) && record.attemptedAt == now)
            let other = ClaimRequest(demands: [QueueDemand(queue: "default", limit: 5)], worker: "w2", lease: .seconds(30))
            #expect(try await storage.claim(other, now: now).isEmpty)
            let report = try await storage.finish([JobCompletion(id: job.id, outcome: .succeeded(result: nil), at: now)], worker: "w1")
            #expect(report.lost.isEmpty)
            #expect(try await storage.job(job.id)?.state == .succeeded)
        }
    }

    @Test("a paused queue, a queue with limits, an earlier due job, a unique job and a scheduled one are not handed over")
    func claimRules() async throws {
        try await RedisTestServer.withStorage { storage in
            let now = Date()
            try await storage.setPaused(true, queue: "paused")
            try await storage.setLimits(QueueLimits(maxRunning: 5), queue: "capped")
            for queue in ["paused", "capped"] {
                let waiter = storage.claimWaiters.register(Self.request(queue))
                #expect(
                    try await storage.enqueue([Self.job(queue: queue, runAt: now)], whenFull: .fail, now: now).map(\.state) == [.available])
                #expect(await storage.claimWaiters.withdraw(waiter).isEmpty, "\(queue)")
            }
            let earlier = Self.job(runAt: now.addingTimeInterval(-1))
            _ = try await storage.enqueue([earlier], whenFull: .fail, now: now)
            var waiter = storage.claimWaiters.register(Self.request())
            #expect(try await storage.enqueue([Self.job(runAt: now)], whenFull: .fail, now: now).map(\.state) == [.available])
            #expect(await storage.claimWaiters.withdraw(waiter).isEmpty, "the earlier job goes first, to a claim")

            waiter = storage.claimWaiters.register(Self.request("fresh"))
            #expect(
                try await storage.enqueue([Self.job(queue: "fresh", runAt: now, uniqueKey: "k")], whenFull: .fail, now: now)
                    .map(\.state) == [.available])
            #expect(
                try await storage.enqueue([Self.job(queue: "fresh", runAt: now.addingTimeInterval(60))], whenFull: .fail, now: now)
                    .map(\.state) == [.scheduled])
            #expect(storage.claimWaiters.waitingCount == 1, "neither took the waiter")
            #expect(await storage.claimWaiters.withdraw(waiter).isEmpty)
        }
    }

    @Test("a failed enqueue hands nothing over and stores nothing")
    func failure() async throws {
        try await RedisTestServer.withStorage { storage in
            let now = Date()
            let existing = Self.job(queue: "other", runAt: now)
            _ = try await storage.enqueue([existing], whenFull: .fail, now: now)
            let waiter = storage.claimWaiters.register(Self.request())
            var copy = Self.job(runAt: now)
            copy.id = existing.id
            await #expect(throws: SpoolError.self) { _ = try await storage.enqueue([copy], whenFull: .fail, now: now) }
            #expect(await storage.claimWaiters.withdraw(waiter).isEmpty)
            #expect(try await storage.job(existing.id)?.queue == "other")
        }
    }

    @Test("a worker's wait returns the job an enqueue handed it")
    func waitReturnsDelivery() async throws {
        try await RedisTestServer.withStorage { storage in
            let clock = ManualClock(start: Date())
            let waiting = Task {
                await storage.waitForWork(claiming: Self.request(), deadline: clock.now.addingTimeInterval(3600), clock: clock)
            }
            while storage.claimWaiters.waitingCount == 0 { await Task.yield() }
            let job = Self.job(runAt: clock.now)
            _ = try await storage.enqueue([job], whenFull: .fail, now: clock.now)
            #expect(await waiting.value.map(\.id) == [job.id])
        }
    }
}
