import Foundation
import Spool
import SpoolSQLite
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Queue limits (issue 7) set with `spool queues limit` and held by the storage across two
/// `spool work` processes, on every durable driver: SQLite (a file both processes share), and
/// PostgreSQL and Redis when their servers are there (see ``CLIServer``).
@Suite("queue limits across spool work processes", .timeLimit(.minutes(5)))
struct LimitCLITests {
    enum Store: String, CaseIterable, CustomStringConvertible {
        case sqlite, postgres, redis
        var description: String { rawValue }

        /// Runs `body` with a fresh store's URL and a storage open on it.
        func withStore(_ body: (String, any JobStorage) async throws -> Void) async throws {
            switch self {
            case .sqlite:
                try await withTemporaryFolder { folder in
                    let path = folder + "/limits.sqlite"
                    let storage = try SQLiteStorage(path: path)
                    defer { try? storage.close() }
                    try await body("sqlite:" + path, storage)
                }
            case .postgres:
                try await CLIServer.postgres.withScratchStore(body)
            case .redis:
                try await CLIServer.redis.withScratchStore(body)
            }
        }
    }

    /// `count` jobs of `spool.sleep` (`ms` each) in `queue`, enqueued straight into storage.
    static func sleepers(_ count: Int, ms: Int, queue: String) -> [NewJob] {
        let now = Date()
        return (0..<count).map { _ in
            NewJob(
                id: JobID(date: now), queue: queue, kind: "spool.sleep", payload: JobPayload(bytes: Array(#"{"ms": \#(ms)}"#.utf8)),
                maxAttempts: 1, runAt: now, createdAt: now
            )
        }
    }

    /// Runs two `spool work` processes on `queue` until `count` jobs succeeded; returns the
    /// records of the queue's jobs and the most of them the store counted running at once
    /// (read every 50 ms).
    static func runTwoWorkers(
        _ url: String, _ storage: any JobStorage, queue: String, count: Int, in folder: String
    ) async throws -> (records: [JobRecord], mostRunning: Int) {
        let arguments = ["work", "--queues", queue, "--concurrency", "4", "--database", url]
        let first = try SpoolChild(arguments, in: folder)
        defer { first.removeOutput() }
        let second = try SpoolChild(arguments, in: folder)
        defer { second.removeOutput() }
        var mostRunning = 0
        try await stopOnceStored([first, second], storage, while: first, timeout: .seconds(120), "\(count) jobs of \(queue) succeeded") {
            mostRunning = max(mostRunning, $0.count(.running, queue: queue))
            return $0.count(.succeeded, queue: queue) == count
        }
        return (try await allJobs(in: storage).filter { $0.queue == queue }, mostRunning)
    }

    @Test("at most N running across two processes", arguments: Store.allCases)
    func maxRunningHoldsAcrossProcesses(_ store: Store) async throws {
        try await store.withStore { url, storage in
            try await withTemporaryFolder { folder in
                let set = try await spool(["queues", "limit", "slow", "--max-running", "2", "--json", "--database", url], in: folder)
                #expect(set.status == 0, "\(set)")
                #expect(try await storage.queueLimits() == ["slow": QueueLimits(maxRunning: 2)])
                let list = try await spool(["queues", "list", "--json", "--database", url], in: folder)
                #expect(list.stdout.contains(#""limits":{"max_running":2,"rate":null}"#), "\(list)")

                _ = try await storage.enqueue(Self.sleepers(12, ms: 250, queue: "slow"), whenFull: .wait, now: Date())
                let (records, mostRunning) = try await Self.runTwoWorkers(url, storage, queue: "slow", count: 12, in: folder)
                // The store's own count, read while the workers ran (each may run 4 at once).
                #expect(mostRunning <= 2, "at most 2 of the queue's jobs running at once across both workers: \(mostRunning)")
                // Run intervals [attempted, finished) from the records. A claim's time is taken
                // before it waits its turn for the queue's lock, so a job may appear to start
                // a little before the one it replaced finished: allow that much.
                let runs = try records.map { (try #require($0.attemptedAt), try #require($0.finishedAt).addingTimeInterval(-0.1)) }
                let most = runs.map { start in runs.filter { $0.0 <= start.0 && start.0 < $0.1 }.count }.max() ?? 0
                #expect(most == 2, "2 of the queue's jobs ran side by side (the limit is used, not undershot): \(most)")
            }
        }
    }

    @Test("at most N starts per sliding window across two processes", arguments: Store.allCases)
    func rateHoldsAcrossProcesses(_ store: Store) async throws {
        try await store.withStore { url, storage in
            try await withTemporaryFolder { folder in
                let set = try await spool(["queues", "limit", "rated", "--rate", "4/2s", "--database", url], in: folder)
                #expect(set.status == 0 && set.stdout.contains("4/2s"), "\(set)")
                let wrong = try await spool(["queues", "limit", "rated", "--rate", "4 per second", "--database", url], in: folder)
                #expect(wrong.status != 0 && wrong.stderr.contains("COUNT/PERIOD"), "\(wrong)")

                _ = try await storage.enqueue(Self.sleepers(10, ms: 1, queue: "rated"), whenFull: .wait, now: Date())
                let (records, _) = try await Self.runTwoWorkers(url, storage, queue: "rated", count: 10, in: folder)
                let starts = try records.map { try #require($0.attemptedAt) }.sorted()
                for index in 0..<(starts.count - 4) {
                    let gap = starts[index + 4].timeIntervalSince(starts[index])
                    #expect(gap >= 2 - 0.001, "start \(index + 4) came \(gap) s after start \(index): 5 starts within 2 s")
                }

                let cleared = try await spool(["queues", "limit", "rated", "--clear", "--database", url], in: folder)
                #expect(cleared.status == 0, "\(cleared)")
                #expect(try await storage.queueLimits().isEmpty)
            }
        }
    }
}
