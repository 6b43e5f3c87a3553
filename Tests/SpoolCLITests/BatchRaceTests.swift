import Foundation
import Spool
import SpoolSQLite
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Issue 21's race: a batch drained by several `spool work` processes at once, whose last jobs
/// finish at about the same moment on different processes, fires each callback exactly once;
/// so it does when one of the processes is SIGKILLed mid-batch and its jobs are rescued. On one
/// SQLite file (two processes), and with four on one PostgreSQL schema and one Redis namespace
/// (skipped without `SPOOL_TEST_POSTGRES_URL` or `SPOOL_TEST_REDIS_URL` unless
/// `SPOOL_REQUIRE_SERVERS=1`).
@Suite("a batch across spool work processes", .timeLimit(.minutes(6)))
struct BatchRaceTests {
    static let jobs = 10_000

    /// A store the cases read and write: a driver that keeps batches.
    typealias BatchStore = any JobStorage & JobBatching

    /// Enqueues one batch of `jobs` jobs of `kind` (payload `payload`) with on_success and
    /// on_complete callbacks in a queue no worker serves (so they stay where they were stored).
    static func enqueueBatch(into storage: any JobBatching, kind: String, payload: String) async throws -> BatchID {
        let now = Date()
        func job(_ kind: String, queue: String = "default", payload: String = "{}") -> NewJob {
            NewJob(queue: queue, kind: kind, payload: JobPayload(bytes: Array(payload.utf8)), runAt: now, createdAt: now)
        }
        let batch = NewBatch(
            jobs: (0..<jobs).map { _ in job(kind, payload: payload) },
            callbacks: BatchCallbacks(
                onSuccess: job("report.success", queue: "callbacks"), onComplete: job("report.complete", queue: "callbacks"),
                onDead: job("report.dead", queue: "callbacks")),
            createdAt: now)
        _ = try await storage.enqueueBatch(batch, whenFull: .fail, now: now)
        return batch.id
    }

    /// ``enqueueBatch(into:kind:payload:)`` on the SQLite file at `path`.
    static func enqueueBatch(at path: String, kind: String, payload: String) async throws -> BatchID {
        let storage = try SQLiteStorage(path: path)
        defer { try? storage.close() }
        return try await enqueueBatch(into: storage, kind: kind, payload: payload)
    }

    /// Checks the batch finished with every job succeeded and its callbacks stored once each.
    static func expectCallbacksOnce(in storage: BatchStore, batch id: BatchID) async throws {
        let record = try #require(try await storage.batch(id))
        #expect(record.state == .succeeded && record.total == jobs, "\(record)")
        #expect(record.count(.succeeded) == jobs, "\(record.counts)")
        let callbacks = try await allJobs(in: storage).filter { $0.queue == "callbacks" }
        #expect(callbacks.map(\.kind).sorted() == ["report.complete", "report.success"], "each callback once: \(callbacks.map(\.kind))")
        #expect(callbacks.allSatisfy { $0.metadata[BatchCallbacks.batchKey] == id.description })
        #expect(Set(callbacks.map(\.id)) == Set(record.callbackJobs.values), "the batch names the callbacks it fired")
    }

    /// ``expectCallbacksOnce(in:batch:)`` on the SQLite file at `path`.
    static func expectCallbacksOnce(at path: String, batch id: BatchID) async throws {
        let storage = try SQLiteStorage(path: path, configuration: .init(migrateOnOpen: false))
        defer { try? storage.close() }
        try await expectCallbacksOnce(in: storage, batch: id)
    }

    static func finished(_ stats: StorageStats) -> Bool {
        stats.count(.succeeded) + stats.count(.dead) + stats.count(.cancelled) >= jobs
    }

    @Test("two processes on one SQLite file drain a 10,000-job batch: each callback is stored once")
    func twoProcesses() async throws {
        try await withTemporaryFolder { folder in
            let path = "\(folder)/jobs.sqlite"
            let id = try await Self.enqueueBatch(at: path, kind: "spool.noop", payload: "{}")
            let work = ["work", "--concurrency", "20", "--database", "sqlite:\(path)"]
            let workers = try (0..<2).map { _ in try SpoolChild(work, in: folder) }
            defer { for worker in workers { worker.removeOutput() } }
            let storage = try SQLiteStorage(path: path, configuration: .init(readers: 1, migrateOnOpen: false))
            try await stopOnceStored(workers, storage, timeout: .seconds(120), "the batch drained", until: Self.finished)
            try storage.close()
            try await Self.expectCallbacksOnce(at: path, batch: id)
        }
    }

    @Test("one of two processes SIGKILLed mid-batch: its jobs are rescued, each callback is still stored once")
    func killedProcess() async throws {
        try await withTemporaryFolder { folder in
            let path = "\(folder)/jobs.sqlite"
            // 5 ms each, 20 at a time per process: a few seconds of work, so the kill lands mid-batch.
            let id = try await Self.enqueueBatch(at: path, kind: "spool.sleep", payload: #"{"ms": 5}"#)
            let work = ["work", "--concurrency", "20", "--lease", "2", "--rescue-interval", "1", "--database", "sqlite:\(path)"]
            let victim = try SpoolChild(work, in: folder)
            let survivor = try SpoolChild(work, in: folder)
            defer {
                victim.removeOutput()
                survivor.removeOutput()
            }
            let storage = try SQLiteStorage(path: path, configuration: .init(readers: 1, migrateOnOpen: false))
            let frozen = try await killHoldingJobs(victim, storage, after: "2,000 jobs succeeded") { $0.count(.succeeded) >= 2_000 }
            #expect(try await victim.waitForExit(timeout: .seconds(10)) == SIGKILL)
            #expect(frozen.count(.succeeded) < Self.jobs, "the kill came mid-batch")
            try await stopOnceStored(
                [survivor], storage, while: survivor, timeout: .seconds(120), "the batch drained", until: Self.finished)
            let rescued = try await allJobs(in: storage).filter { $0.errors.contains { $0.reason == "lease_expired" } }
            #expect(!rescued.isEmpty, "the killed process's jobs were rescued and ran again")
            try storage.close()
            try await Self.expectCallbacksOnce(at: path, batch: id)
        }
    }

    // MARK: Servers

    /// Runs `body` with the URL of a fresh scratch store on `server` (a schema on PostgreSQL, a
    /// namespace on Redis) and a running storage on it; without the server's URL the test is a
    /// no-op, or fails when `SPOOL_REQUIRE_SERVERS=1`.
    static func withServer(_ server: CLIServer, _ body: (_ url: String, _ storage: BatchStore) async throws -> Void) async throws {
        try await server.withScratchStore { url, storage in
            try await body(url, try #require(storage as? BatchStore, "the \(server) driver keeps batches"))
        }
    }

    @Test(
        "four processes on one PostgreSQL schema or Redis namespace drain a 10,000-job batch: each callback is stored once",
        arguments: CLIServer.allCases)
    func fourProcessesOnAServer(_ server: CLIServer) async throws {
        try await Self.withServer(server) { url, storage in
            let id = try await Self.enqueueBatch(into: storage, kind: "spool.noop", payload: "{}")
            try await withTemporaryFolder { folder in
                let work = ["work", "--concurrency", "20", "--database", url]
                let workers = try (0..<4).map { _ in try SpoolChild(work, in: folder) }
                defer { for worker in workers { worker.removeOutput() } }
                try await stopOnceStored(workers, storage, timeout: .seconds(120), "the batch drained", until: Self.finished)
            }
            try await Self.expectCallbacksOnce(in: storage, batch: id)
        }
    }

    @Test(
        "one of four processes on a server SIGKILLed mid-batch: its jobs are rescued, each callback is still stored once",
        arguments: CLIServer.allCases)
    func killedProcessOnAServer(_ server: CLIServer) async throws {
        try await Self.withServer(server) { url, storage in
            // 5 ms each, 20 at a time per process: a few seconds of work, so the kill lands mid-batch.
            let id = try await Self.enqueueBatch(into: storage, kind: "spool.sleep", payload: #"{"ms": 5}"#)
            try await withTemporaryFolder { folder in
                // Short leases and a 1 s rescue by the elected leader (another process takes a
                // killed leader's place within the leader's TTL).
                let work = ["work", "--concurrency", "20", "--lease", "2", "--rescue-interval", "1", "--database", url]
                let victim = try SpoolChild(work, in: folder)
                let survivors = try (0..<3).map { _ in try SpoolChild(work, in: folder) }
                defer {
                    victim.removeOutput()
                    for survivor in survivors { survivor.removeOutput() }
                }
                let frozen = try await killHoldingJobs(victim, storage, after: "1,000 jobs succeeded") { $0.count(.succeeded) >= 1_000 }
                #expect(try await victim.waitForExit(timeout: .seconds(10)) == SIGKILL)
                #expect(frozen.count(.succeeded) < Self.jobs, "the kill came mid-batch")
                try await stopOnceStored(
                    survivors, storage, while: survivors[0], timeout: .seconds(120), "the batch drained", until: Self.finished)
            }
            let rescued = try await allJobs(in: storage).filter { $0.errors.contains { $0.reason == "lease_expired" } }
            #expect(!rescued.isEmpty, "the killed process's jobs were rescued and ran again")
            try await Self.expectCallbacksOnce(in: storage, batch: id)
        }
    }
}
