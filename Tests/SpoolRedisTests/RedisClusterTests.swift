import Foundation
import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing

/// Several storages (each its own pool and wake-up connection, as separate processes would
/// have) sharing one namespace: leader election, and the server restarting under running workers.
@Suite("Redis driver, several instances", .enabled(if: RedisTestServer.enabled, RedisTestServer.skipMessage))
struct RedisClusterTests {
    /// Counts runs per job value.
    final class RunCounter: Sendable {
        private let counts: Mutex<[Int]>
        private let finished = Atomic<Int>(0)
        private let signal = WakeSignal()

        init(_ total: Int) { counts = Mutex(Array(repeating: 0, count: total)) }

        func record(_ value: Int) {
            let first = counts.withLock { counts in
                counts[value] += 1
                return counts[value] == 1
            }
            if first { finished.wrappingAdd(1, ordering: .relaxed) }
            signal.signal()
        }

        var distinct: Int { finished.load(ordering: .relaxed) }
        var snapshot: [Int] { counts.withLock { $0 } }

        func waitForDistinct(_ count: Int, timeout: Duration) async throws {
            try await Expectation.eventually(timeout: timeout, "\(count) distinct jobs run") {
                let ticket = self.signal.ticket()
                if self.distinct >= count { return true }
                await self.signal.wait(ticket, until: Date().addingTimeInterval(0.5), clock: SystemClock())
                return false
            }
        }
    }

    /// Waits (at most 20 s) until `candidate` leads.
    static func leads(_ candidate: RedisLeaderElection) async throws {
        try await Expectation.eventually(timeout: .seconds(20), "\(candidate.holder) becomes leader") {
            try await candidate.waitForLeadership()
            return true
        }
    }

    @Test("one leader at a time; a resignation or a crash hands the duty on", .timeLimit(.minutes(2)))
    func leaderElection() async throws {
        try await RedisTestServer.withStorage { storage in
            // Long enough that a loaded machine still renews in time (renewals every ttl / 3):
            // 3 s lost the lease about one run in two when this suite ran beside the four
            // `spool work` processes of BatchRaceTests' Redis cases on two cores.
            let ttl = Duration.seconds(6)
            let first = RedisLeaderElection(storage: storage, duty: "test", holder: "first", ttl: ttl)
            let secondStore = RecordingLeadershipStore(storage)
            let second = LeaderElection(store: secondStore, duty: "test", holder: "second", ttl: ttl)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await first.run() }
                try await Self.leads(first)
                group.addTask { try await second.run() }
                // Four of the second candidate's campaigns: it never takes over from a live leader.
                for count in 1...4 {
                    let campaigns = try await secondStore.campaigns.waitForCount(count, timeout: .seconds(20))
                    #expect(!campaigns.contains(true), "the second candidate lost campaign \(count)")
                    #expect(!(first.isLeader && second.isLeader), "never two leaders")
                }
                #expect(first.isLeader && !second.isLeader)
                try await first.resign()
                try await Self.leads(second)
                #expect(!first.isLeader)
                group.cancelAll()
            }
            // A crash: the leader stops renewing (cancelled) without resigning; another
            // candidate takes over once the key has expired.
            let crashed = RedisLeaderElection(storage: storage, duty: "crash", holder: "crashed", ttl: ttl)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await crashed.run() }
                try await Self.leads(crashed)
                group.cancelAll()
                try? await group.waitForAll()
            }
            let successor = RedisLeaderElection(storage: storage, duty: "crash", holder: "successor", ttl: ttl)
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await successor.run() }
                try await Self.leads(successor)
                group.cancelAll()
            }
            #expect(ContinuousClock.now - started < .seconds(10), "took over within the TTL and a retry")
        }
    }

    @Test("a Redis restart mid-run loses no job", .timeLimit(.minutes(5)))
    func serverRestart() async throws {
        // A server of its own: restarting the shared one would break other tests.
        try await RedisTestServer.withPrivateServer { url, dir in
            let namespace = RedisTestServer.namespace("restart")
            let total = 3_000
            let storages = try (0..<2).map { _ in
                try RedisStorage(url: url, configuration: RedisTestServer.configuration(namespace: namespace))
            }
            let counter = RunCounter(total)
            let registry = JobRegistry()
            registry.register(ProbeJob.self) { job, _ in
                try await Task.sleep(for: .milliseconds(2))  // a job's work: the restart finds jobs running
                counter.record(job.value)
            }
            // Short leases so that a job whose outcome was lost in the restart runs again soon.
            let workers = storages.enumerated().map { index, storage in
                Worker(
                    storage: storage, registry: registry,
                    configuration: WorkerConfiguration(
                        concurrency: 8, lease: .seconds(3), drainTimeout: .seconds(10), rescueInterval: .seconds(1),
                        idleWait: .milliseconds(200), workerID: "worker-\(index)"
                    ),
                    middleware: []
                )
            }
            try await withThrowingTaskGroup(of: Void.self) { storageGroup in
                for storage in storages { storageGroup.addTask { try await storage.run() } }
                try await withThrowingTaskGroup(of: Void.self) { workerGroup in
                    for worker in workers { workerGroup.addTask { try await worker.run() } }
                    do {
                        let client = SpoolClient(storage: storages[0], registry: registry, middleware: [])
                        for start in stride(from: 0, to: total, by: 1_000) {
                            _ = try await client.enqueue((start..<(start + 1_000)).map { ProbeJob(value: $0) })
                        }
                        try await counter.waitForDistinct(total / 4, timeout: .seconds(60))
                        try await RedisTestServer.runScript("stop", dir: dir)
                        let again = try await RedisTestServer.runScript("start", dir: dir)
                        #expect(again == url, "the server comes back on the same port")
                        try await counter.waitForDistinct(total, timeout: .seconds(180))
                        let checker = storages[1]
                        // Outcomes are flushed in the background and no driver announces them: a poll.
                        try await Expectation.poll(every: .milliseconds(100), timeout: .seconds(60), "every job stored as succeeded") {
                            (try? await checker.stats())?.count(.succeeded) == total
                        }
                    } catch {
                        workerGroup.cancelAll()
                        storageGroup.cancelAll()
                        throw error
                    }
                    for worker in workers { worker.beginShutdown() }
                    try await workerGroup.waitForAll()
                }
                storageGroup.cancelAll()
            }
            let counts = counter.snapshot
            #expect(counts.allSatisfy { $0 >= 1 }, "no job lost")
            let twice = counts.filter { $0 > 1 }.count
            // A job runs twice only when its outcome was lost in the restart and its lease expired.
            #expect(twice <= 8 * 2 * 2, "jobs run twice: \(twice)")
        }
    }
}
