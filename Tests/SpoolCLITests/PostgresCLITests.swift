import Foundation
import Spool
import SpoolPostgres
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `spool` CLI on PostgreSQL (issue 5): `postgres://` URLs everywhere, several worker
/// processes sharing one queue, and a worker killed mid-run. Needs `SPOOL_TEST_POSTGRES_URL`
/// (set by `scripts/test`); skipped without it unless `SPOOL_REQUIRE_SERVERS=1`.
@Suite(
    "spool on PostgreSQL", .timeLimit(.minutes(5)),
    .enabled(if: CLIPostgres.enabled, "SPOOL_TEST_POSTGRES_URL is not set: scripts/test starts a server and sets it")
)
struct PostgresCLITests {
    @Test("migrate, enqueue, jobs, stats, queues and work take a postgres:// URL with ?schema=")
    func everyCommandTakesAPostgresURL() async throws {
        try await CLIPostgres.withSchema { url, storage in
            try await withTemporaryFolder { folder in
                let database = ["--database", url]
                let first = try await spool(["migrate", "--json"] + database, in: folder)
                #expect(first.status == 0, "\(first)")
                let report = try first.jsonObject()
                // The test's own storage migrated the schema already: nothing left to apply.
                #expect(report["from"] as? Int == PostgresStorage.schemaVersion && report["to"] as? Int == PostgresStorage.schemaVersion, "\(first)")
                #expect((report["applied"] as? [Any])?.isEmpty == true, "\(first)")
                let again = try await spool(["migrate"] + database, in: folder)
                #expect(again.status == 0 && again.stdout.contains("up to date"), "\(again)")
                #expect(!again.stdout.contains("s3cret") && !again.stdout.contains(":spool@"), "no password shown: \(again)")

                let enqueued = try await spool(["enqueue", "spool.echo", "--payload", #"{"hi": 1}"#, "--json"] + database, in: folder)
                #expect(enqueued.status == 0, "\(enqueued)")
                let id = try #require(try enqueued.jsonObject()["id"] as? String)
                let list = try await spool(["jobs", "list", "--json"] + database, in: folder)
                #expect(list.status == 0 && list.stdout.contains(id), "\(list)")

                let paused = try await spool(["queues", "pause", "default"] + database, in: folder)
                #expect(paused.status == 0, "\(paused)")
                #expect(try await storage.pausedQueues() == ["default"])
                let resumed = try await spool(["queues", "resume", "default"] + database, in: folder)
                #expect(resumed.status == 0, "\(resumed)")

                let worker = try SpoolChild(["work", "--concurrency", "2"] + database, in: folder)
                defer { worker.removeOutput() }
                try await watchStorage(storage, while: worker, timeout: .seconds(60), "the echo job succeeded") { $0.count(.succeeded) == 1 }
                worker.send(SIGTERM)
                #expect(try await worker.waitForExit(timeout: .seconds(30)) == 0, "\(worker.output.stderr)")
                let jobID = try #require(JobID(id))
                let record = try #require(try await storage.job(jobID))
                #expect(record.state == .succeeded)
                #expect(record.result.map { String(decoding: $0, as: UTF8.self) } == #"{"hi": 1}"#)

                let stats = try await spool(["stats", "--json"] + database, in: folder)
                #expect(stats.status == 0 && stats.stdout.contains("succeeded"), "\(stats)")
            }
        }
    }

    @Test("four spool work processes share 100,000 jobs: every job finishes exactly once")
    func fourProcessesShareOneQueue() async throws {
        let total = 100_000
        try await CLIPostgres.withSchema { url, storage in
            let now = Date()
            let noop = JobPayload(bytes: Array("{}".utf8))
            for start in stride(from: 0, to: total, by: 5_000) {
                _ = try await storage.enqueue(
                    (start..<(start + 5_000)).map { _ in NewJob(kind: "spool.noop", payload: noop, runAt: now, createdAt: now) },
                    whenFull: .fail, now: now
                )
            }
            try await withTemporaryFolder { folder in
                let work = ["work", "--database", url, "--concurrency", "32", "--log-level", "info"]
                let children = try (0..<4).map { _ in try SpoolChild(work, in: folder) }
                defer { for child in children { child.removeOutput() } }
                do {
                    try await watchStorage(storage, timeout: .seconds(240), "all \(total) jobs succeeded") { stats in
                        stats.count(.succeeded) == total
                    }
                } catch {
                    for child in children { child.send(SIGKILL) }
                    throw error
                }
                for child in children { child.send(SIGTERM) }
                for child in children {
                    #expect(try await child.waitForExit(timeout: .seconds(30)) == 0, "\(child.output.stderr)")
                }
                // Each job was claimed once (attempt 1) and succeeded: none ran twice, none lost.
                let stats = try await storage.stats()
                #expect(stats.count(.succeeded) == total)
                let claimedTwice = try await CLIPostgres.count(url: url, storage: storage, where: { $0.attempt != 1 || $0.state != .succeeded })
                #expect(claimedTwice == 0)
                // And the work was shared: every process ran some (from its "worker stopped" line).
                let perProcess = children.map { CLIPostgres.succeeded(inLog: $0.output.stderr) }
                #expect(perProcess.allSatisfy { $0 > 0 } && perProcess.reduce(0, +) == total, "succeeded per process: \(perProcess)")
            }
        }
    }

    @Test("SIGKILL a worker process mid-run, start another: none is lost")
    func killedWorkerLosesNothing() async throws {
        let total = 300
        try await CLIPostgres.withSchema { url, storage in
            let now = Date()
            let payload = JobPayload(bytes: Array(#"{"ms": 100}"#.utf8))
            let ids = try await storage.enqueue(
                (0..<total).map { _ in NewJob(kind: "spool.sleep", payload: payload, runAt: now, createdAt: now) }, whenFull: .fail, now: now
            ).map(\.id)
            try await withTemporaryFolder { folder in
                // Short leases and a 1 s rescue by the elected leader (a 2 s leader TTL, so the
                // survivor takes over quickly when the killed process was the leader).
                let work = ["work", "--database", url, "--concurrency", "10", "--lease", "2", "--rescue-interval", "1"]
                let first = try SpoolChild(work, in: folder)
                defer { first.removeOutput() }
                let before = try await watchStorage(storage, while: first, timeout: .seconds(60), "60 jobs succeeded") { $0.count(.succeeded) >= 60 }
                first.send(SIGKILL)
                #expect(try await first.waitForExit(timeout: .seconds(10)) == SIGKILL)
                #expect(before.count(.succeeded) < total, "the kill came mid-run")
                let orphaned = try await storage.stats().count(.running)
                #expect(orphaned > 0, "the killed worker had jobs in hand")

                let second = try SpoolChild(work, in: folder)
                defer { second.removeOutput() }
                try await watchStorage(storage, while: second, timeout: .seconds(90), "all \(total) jobs finished") {
                    $0.count(.succeeded) + $0.count(.dead) + $0.count(.cancelled) == total
                }
                second.send(SIGTERM)
                #expect(try await second.waitForExit(timeout: .seconds(30)) == 0, "\(second.output.stderr)")

                var records: [JobRecord] = []
                var cursor: JobID?
                repeat {
                    let page = try await storage.jobs(JobFilter(), after: cursor, limit: 500)
                    records += page.jobs
                    cursor = page.nextCursor
                } while cursor != nil
                #expect(Set(records.map(\.id)) == Set(ids))
                let finished = records.count { $0.state == .succeeded }
                let twice = records.count { $0.attempt >= 2 }
                #expect(finished == total, "finished \(finished), lost \(total - finished)")
                #expect(twice >= 1 && twice <= orphaned, "twice \(twice), orphaned \(orphaned)")
            }
        }
    }
}

/// The test server, and a fresh schema per test so tests run in parallel.
enum CLIPostgres {
    static let url = ProcessInfo.processInfo.environment["SPOOL_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static var enabled: Bool { url != nil || ProcessInfo.processInfo.environment["SPOOL_REQUIRE_SERVERS"] == "1" }

    /// Runs `body` with the URL of a fresh schema (`?schema=…`) and a running storage on it;
    /// drops the schema afterwards when `body` succeeded.
    static func withSchema(_ body: (String, PostgresStorage) async throws -> Void) async throws {
        let base = try #require(url, "SPOOL_REQUIRE_SERVERS=1 but SPOOL_TEST_POSTGRES_URL is not set")
        let schema = "cli_\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF)"
        let schemaURL = base + (base.contains("?") ? "&" : "?") + "schema=\(schema)"
        let storage = try PostgresStorage(url: schemaURL, configuration: .init(poolSize: 2, maintenance: nil, startTimeout: .seconds(30)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await storage.run() }
            do {
                try await storage.waitUntilReady()
                try await body(schemaURL, storage)
                try await storage.dropSchema()
                group.cancelAll()
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    /// Counts the jobs matching `predicate`, paging through all of them.
    static func count(url: String, storage: PostgresStorage, where predicate: (JobRecord) -> Bool) async throws -> Int {
        var count = 0
        var cursor: JobID?
        repeat {
            let page = try await storage.jobs(JobFilter(), after: cursor, limit: 5_000)
            count += page.jobs.count(where: predicate)
            cursor = page.nextCursor
        } while cursor != nil
        return count
    }

    /// The `succeeded` count of a `spool work` log's "worker stopped" line (0 when absent).
    static func succeeded(inLog log: String) -> Int {
        guard let line = log.split(separator: "\n").last(where: { $0.contains("worker stopped") }),
              let range = line.range(of: "succeeded: ") else { return 0 }
        return Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
    }
}
