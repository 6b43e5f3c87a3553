import Foundation
import Spool
import SpoolTesting
import Testing

@testable import SpoolRedis

/// A wait after a claim that took every due job it saw runs no script; after one that left
/// jobs, it asks the server.
@Suite("Redis driver, waiting after a claim", .enabled(if: RedisTestServer.enabled, RedisTestServer.skipMessage))
struct RedisWaitTests {
    /// How many scripts the server has run since its counters were reset.
    static func scripts(_ admin: RESPConnection) async throws -> Int {
        let text = try await admin.send("INFO", "commandstats").string ?? ""
        let line = text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("cmdstat_evalsha:") }
        guard let line, let calls = line.split(separator: "=").dropFirst().first?.split(separator: ",").first else { return 0 }
        return Int(calls) ?? 0
    }

    @Test("an exhaustive claim's wait runs no script and ends at the next run-at the claim saw, or at an enqueue", .timeLimit(.minutes(2)))
    func exhaustiveClaimWait() async throws {
        // A server of its own, and a storage with no listener and no maintenance: every script
        // the server counts is one this test makes.
        try await RedisTestServer.withPrivateServer { url, _ in
            let admin = try await RESPConnection.connect(to: try RedisURL(url).endpoint, timeout: .seconds(5))
            defer { admin.close() }
            let storage = try RedisStorage(
                url: url,
                configuration: .init(
                    namespace: RedisTestServer.namespace("wait"), pollInterval: .seconds(3600), wakeups: false, maintenance: nil))
            try await RedisTestServer.running(storage) { storage in
                let clock = ManualClock(start: Date())
                let request = ClaimRequest(demands: [QueueDemand(queue: "default", limit: 10)], worker: "w", lease: .seconds(30), limit: 10)
                let later = NewJob(
                    kind: "k", payload: JobPayload(bytes: []), runAt: clock.now.addingTimeInterval(0.05), createdAt: clock.now)
                _ = try await storage.enqueue([later], whenFull: .fail, now: clock.now)
                #expect(try await storage.claim(request, now: clock.now).isEmpty, "nothing is due yet")
                _ = try await admin.send("CONFIG", "RESETSTAT")
                let woke = EventRecorder<Bool>()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await storage.waitForWork(queues: ["default"], deadline: clock.now.addingTimeInterval(3600), clock: clock)
                        woke.record(true)
                    }
                    try await clock.waitForSleepers(atLeast: 1)
                    #expect(try await Self.scripts(admin) == 0, "the wait asked the server nothing")
                    #expect(woke.count == 0)
                    clock.advance(by: .milliseconds(60))
                    try await woke.waitForCount(1, timeout: .seconds(5))
                    try await group.waitForAll()
                }
                // The job is due now; once taken, the next wait ends at an enqueue.
                #expect(try await storage.claim(request, now: clock.now).map(\.id) == [later.id])
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await storage.waitForWork(queues: ["default"], deadline: clock.now.addingTimeInterval(3600), clock: clock)
                        woke.record(true)
                    }
                    try await clock.waitForSleepers(atLeast: 1)
                    _ = try await storage.enqueue(
                        [NewJob(kind: "k", payload: JobPayload(bytes: []), runAt: clock.now, createdAt: clock.now)], whenFull: .fail,
                        now: clock.now)
                    try await woke.waitForCount(2, timeout: .seconds(5))
                    try await group.waitForAll()
                }
            }
        }
    }

    @Test("a claim that left due jobs (its limit reached) is followed by a wait that asks the server, and returns at once")
    func leftoverClaimWait() async throws {
        try await RedisTestServer.withStorage { storage in
            let now = Date()
            let jobs = (0..<2).map { _ in NewJob(kind: "k", payload: JobPayload(bytes: []), runAt: now, createdAt: now) }
            _ = try await storage.enqueue(jobs, whenFull: .fail, now: now)
            let one = ClaimRequest(demands: [QueueDemand(queue: "default", limit: 1)], worker: "w", lease: .seconds(30), limit: 1)
            #expect(try await storage.claim(one, now: now).count == 1)
            // A manual clock that never moves: only the server's answer can end this wait.
            let clock = ManualClock(start: now)
            let started = ContinuousClock.now
            await storage.waitForWork(queues: ["default"], deadline: now.addingTimeInterval(3600), clock: clock)
            #expect(ContinuousClock.now - started < .seconds(5), "a job is due: the wait returned at once")
        }
    }
}
