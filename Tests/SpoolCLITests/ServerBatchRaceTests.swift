import Foundation
import Spool
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Issue 21's race on the server drivers: four `spool work` processes drain one batch of
/// 10,000 jobs, so its last jobs finish at about the same moment on different processes; each
/// callback is enqueued exactly once. Again with one of the four SIGKILLed mid-batch (its jobs
/// rescued by the others): still exactly once, nothing lost.
@Suite("a batch across four spool work processes on a server", .timeLimit(.minutes(6)))
struct ServerBatchRaceTests {
    static let jobs = 10_000
    static let processes = 4

    /// Enqueues one batch of ``jobs`` jobs of `kind` with on_success, on_complete and on_dead
    /// callbacks in a queue no worker serves (so they stay where they were stored).
    static func enqueueBatch(_ storage: any JobBatching, kind: String, payload: String) async throws -> BatchID {
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

    /// Checks the batch finished with every job succeeded and its callbacks stored once each.
    static func expectCallbacksOnce(_ storage: any JobStorage & JobBatching, batch id: BatchID) async throws {
        let record = try #require(try await storage.batch(id))
        #expect(record.state == .succeeded && record.total == jobs, "\(record)")
        #expect(record.count(.succeeded) == jobs, "\(record.counts)")
        let callbacks = try await allJobs(in: storage).filter { $0.queue == "callbacks" }
        #expect(callbacks.map(\.kind).sorted() == ["report.complete", "report.success"], "each callback once: \(callbacks.map(\.kind))")
        #expect(callbacks.allSatisfy { $0.metadata[BatchCallbacks.batchKey] == id.description })
        #expect(Set(callbacks.map(\.id)) == Set(record.callbackJobs.values), "the batch names the callbacks it fired")
    }

    static func finished(_ stats: StorageStats) -> Bool {
        stats.count(.succeeded) + stats.count(.dead) + stats.count(.cancelled) >= jobs
    }

    /// The store as a batch store; nil (the case is skipped) for a driver that keeps none yet.
    static func batching(_ storage: any JobStorage) -> (any JobStorage & JobBatching)? {
        storage as? any JobStorage & JobBatching
    }

    @Test("four processes drain a 10,000-job batch: each callback is enqueued once", arguments: CLIServer.allCases)
    func fourProcesses(_ server: CLIServer) async throws {
        try await server.withScratchStore { url, storage in
            guard let store = Self.batching(storage) else { return }
            try await withTemporaryFolder { folder in
                let id = try await Self.enqueueBatch(store, kind: "spool.noop", payload: "{}")
                let work = ["work", "--concurrency", "20", "--database", url]
                let workers = try (0..<Self.processes).map { _ in try SpoolChild(work, in: folder) }
                defer { for worker in workers { worker.removeOutput() } }
                try await stopOnceStored(workers, storage, timeout: .seconds(180), "the batch drained", until: Self.finished)
                try await Self.expectCallbacksOnce(store, batch: id)
            }
        }
    }

    @Test(
        "one of four processes SIGKILLed mid-batch: its jobs are rescued, each callback is still enqueued once",
        arguments: CLIServer.allCases)
    func killedProcess(_ server: CLIServer) async throws {
        try await server.withScratchStore { url, storage in
            guard let store = Self.batching(storage) else { return }
            try await withTemporaryFolder { folder in
                // 5 ms each, 20 at a time per process: a few seconds of work, so the kill lands mid-batch.
                let id = try await Self.enqueueBatch(store, kind: "spool.sleep", payload: #"{"ms": 5}"#)
                let work = ["work", "--concurrency", "20", "--lease", "2", "--rescue-interval", "1", "--database", url]
                let victim = try SpoolChild(work, in: folder)
                let survivors = try (1..<Self.processes).map { _ in try SpoolChild(work, in: folder) }
                defer {
                    victim.removeOutput()
                    for survivor in survivors { survivor.removeOutput() }
                }
                let frozen = try await killHoldingJobs(victim, storage, after: "2,000 jobs succeeded") { $0.count(.succeeded) >= 2_000 }
                #expect(try await victim.waitForExit(timeout: .seconds(10)) == SIGKILL)
                #expect(frozen.count(.succeeded) < Self.jobs, "the kill came mid-batch")
                try await stopOnceStored(
                    survivors, storage, while: survivors[0], timeout: .seconds(180), "the batch drained", until: Self.finished)
                let rescued = try await allJobs(in: storage).filter { $0.errors.contains { $0.reason == "lease_expired" } }
                #expect(!rescued.isEmpty, "the killed process's jobs were rescued and ran again")
                try await Self.expectCallbacksOnce(store, batch: id)
            }
        }
    }
}
