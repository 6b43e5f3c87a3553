import Foundation
import Logging
import Spool
import SpoolPostgres
import SpoolTesting
import Synchronization
import Testing

/// Several storages (each its own pool and LISTEN connection, as separate processes would have)
/// sharing one schema, and the database restarting under running workers.
@Suite("PostgreSQL driver, several instances", .enabled(if: PostgresTestServer.enabled, PostgresTestServer.skipMessage))
struct PostgresClusterTests {
    /// Counts runs per job value: each must end at exactly one.
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

    static func workers(
        _ storages: [PostgresStorage], _ registry: JobRegistry, concurrency: Int, lease: Duration = .seconds(30)
    ) -> [Worker] {
        storages.enumerated().map { index, storage in
            Worker(
                storage: storage, registry: registry,
                configuration: WorkerConfiguration(
                    concurrency: concurrency, lease: lease, drainTimeout: .seconds(10), rescueInterval: .seconds(1),
                    idleWait: .milliseconds(200), workerID: "worker-\(index)"
                ),
                middleware: []
            )
        }
    }

    /// Runs every storage, then every worker, for the duration of `body`; then drains the
    /// workers and stops the storages.
    static func withCluster(
        _ storages: [PostgresStorage], _ workers: [Worker], _ body: @Sendable () async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { storageGroup in
            for storage in storages { storageGroup.addTask { try await storage.run() } }
            try await withThrowingTaskGroup(of: Void.self) { workerGroup in
                for worker in workers { workerGroup.addTask { try await worker.run() } }
                do {
                    try await body()
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
    }

    @Test("four storage+worker pairs share 20,000 jobs and finish each exactly once", .timeLimit(.minutes(5)))
    func fourInstancesShareTheQueue() async throws {
        let url = try PostgresTestServer.requireURL()
        let schema = PostgresTestServer.schemaName("four")
        let total = 20_000
        let storages = try (0..<4).map { _ in
            try PostgresStorage(url: url, configuration: PostgresTestServer.configuration(schema: schema, poolSize: 4))
        }
        let counter = RunCounter(total)
        let registry = JobRegistry()
        registry.register(ProbeJob.self) { job, _ in counter.record(job.value) }
        let workers = Self.workers(storages, registry, concurrency: 16)
        try await Self.withCluster(storages, workers) {
            let client = SpoolClient(storage: storages[0], registry: registry, middleware: [])
            for start in stride(from: 0, to: total, by: 2_000) {
                _ = try await client.enqueue((start..<(start + 2_000)).map { ProbeJob(value: $0) })
            }
            try await counter.waitForDistinct(total, timeout: .seconds(240))
        }
        let counts = counter.snapshot
        #expect(counts.allSatisfy { $0 == 1 }, "runs per job: \(Dictionary(grouping: counts, by: { $0 }).mapValues(\.count))")
        let stats = try await PostgresTestServer.running(
            try PostgresStorage(url: url, configuration: PostgresTestServer.configuration(schema: schema))
        ) { try await $0.stats() }
        #expect(stats.count(.succeeded) == total, "\(stats)")
        let perWorker = workers.map(\.stats.succeeded)
        #expect(perWorker.reduce(0, +) == total && perWorker.allSatisfy { $0 > 0 }, "every instance did a share: \(perWorker)")
        try await PostgresTestServer.dropSchema(schema, url: url)
    }

    /// Issue #5: the database restarting under two running workers is survived. Workers back
    /// off and retry, the pool reconnects, every job runs and ends stored as succeeded, and no
    /// job runs more than once unless its lease expired. On a cluster of its own (restarting
    /// the shared one would break other tests' queries).
    ///
    /// It used to hang now and then (a worker's claim or outcome flush never returned): PostgresNIO
    /// loses a statement written to a connection the server has closed; the driver now checks the
    /// connection on its event loop first (see `CheckedConnection`, and the tests of closed
    /// connections in `PostgresStorageTests`).
    @Test("a database restart mid-run loses no job", .timeLimit(.minutes(5)))
    func databaseRestart() async throws {
        try await PostgresTestServer.withPrivateCluster { url, dir in
            let schema = PostgresTestServer.schemaName("restart")
            let total = 3_000
            // Short leases so that a job whose outcome was lost in the restart runs again soon.
            let storages = try (0..<2).map { _ in
                try PostgresStorage(url: url, configuration: PostgresTestServer.configuration(schema: schema, poolSize: 4))
            }
            let counter = RunCounter(total)
            let registry = JobRegistry()
            registry.register(ProbeJob.self) { job, _ in
                try await Task.sleep(for: .milliseconds(2))  // a job's work: the restart finds jobs running
                counter.record(job.value)
            }
            let workers = Self.workers(storages, registry, concurrency: 8, lease: .seconds(3))
            try await Self.withCluster(storages, workers) {
                let client = SpoolClient(storage: storages[0], registry: registry, middleware: [])
                for start in stride(from: 0, to: total, by: 1_000) {
                    _ = try await client.enqueue((start..<(start + 1_000)).map { ProbeJob(value: $0) })
                }
                try await counter.waitForDistinct(total / 4, timeout: .seconds(60))
                try await PostgresTestServer.runScript("restart", dir: dir)
                try await counter.waitForDistinct(total, timeout: .seconds(180))
                // Outcomes stored after the restart: wait until no job is left unfinished (the
                // workers flush outcomes in the background and no driver announces them: a poll).
                let checker = storages[1]
                try await Expectation.poll(every: .milliseconds(100), timeout: .seconds(60), "every job stored as succeeded") {
                    (try? await checker.stats())?.count(.succeeded) == total
                }
            }
            let counts = counter.snapshot
            #expect(counts.allSatisfy { $0 >= 1 }, "no job lost")
            // A job runs more than once only after its lease expired: its outcome was lost in the
            // restart, or (on a loaded machine) its worker did not store it or renew the lease in
            // time. The rescue records each expiry in the job's error history.
            let records = try await PostgresTestServer.running(
                try PostgresStorage(url: url, configuration: PostgresTestServer.configuration(schema: schema))
            ) { try await $0.jobs(JobFilter(), after: nil, limit: total + 1).jobs }
            #expect(records.count == total)
            var expired = Set<Int>()
            for record in records where record.errors.contains(where: { $0.reason == "lease_expired" }) {
                expired.insert(try record.payload.decode(as: ProbeJob.self).value)
            }
            let again = counts.indices.filter { counts[$0] > 1 }
            let unexplained = again.filter { !expired.contains($0) }
            #expect(
                unexplained.isEmpty,
                "run more than once without an expired lease: \(unexplained.prefix(20)) (run more than once: \(again.count), leases expired: \(expired.count))"
            )
        }
    }
}
