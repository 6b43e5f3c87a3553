import Foundation
import Spool
import SpoolPostgres
import SpoolRedis
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `spool` CLI on the server drivers (issues 5 and 6): `postgres://` and `redis://` URLs
/// everywhere, several worker processes sharing one queue, and a worker killed mid-run. Each
/// test runs once per server; a server whose URL (`SPOOL_TEST_POSTGRES_URL`,
/// `SPOOL_TEST_REDIS_URL`, set by `scripts/test`) is missing is skipped, unless
/// `SPOOL_REQUIRE_SERVERS=1` makes that a failure.
@Suite("spool on PostgreSQL and Redis", .timeLimit(.minutes(5)))
struct ServerCLITests {
    @Test("migrate, enqueue, jobs, stats, queues and work take the server's URL with its scratch option", arguments: CLIServer.allCases)
    func everyCommandTakesAServerURL(_ server: CLIServer) async throws {
        try await server.withScratchStore { url, storage in
            try await withTemporaryFolder { folder in
                let database = ["--database", url]
                let first = try await spool(["migrate", "--json"] + database, in: folder)
                #expect(first.status == 0, "\(first)")
                let report = try first.jsonObject()
                // The test's own storage migrated a PostgreSQL schema already: nothing left to
                // apply. Redis has no schema (version 0).
                let version = server == .postgres ? PostgresStorage.schemaVersion : 0
                #expect(report["from"] as? Int == version && report["to"] as? Int == version, "\(first)")
                #expect((report["applied"] as? [Any])?.isEmpty == true, "\(first)")
                let again = try await spool(["migrate"] + database, in: folder)
                #expect(again.status == 0 && again.stdout.contains(server == .postgres ? "up to date" : "no schema"), "\(again)")
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
                try await watchStorage(storage, while: worker, timeout: .seconds(60), "the echo job succeeded") {
                    $0.count(.succeeded) == 1
                }
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

    @Test("three spool serve processes sharing the store fire each tick of a schedule once", arguments: CLIServer.allCases)
    func threeServersFireEachTickOnce(_ server: CLIServer) async throws {
        try await server.withScratchStore { url, storage in
            try await withTemporaryFolder { folder in
                try await ServeTests.threeServersFireEachTickOnce(database: url, storage: storage, in: folder)
            }
        }
    }

    @Test("four spool work processes share 100,000 jobs: every job finishes exactly once", arguments: CLIServer.allCases)
    func fourProcessesShareOneQueue(_ server: CLIServer) async throws {
        let total = 100_000
        try await server.withScratchStore { url, storage in
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
                try await stopOnceStored(children, storage, timeout: .seconds(240), "all \(total) jobs succeeded") { stats in
                    stats.count(.succeeded) == total
                }
                // Each job was claimed once (attempt 1) and succeeded: none ran twice, none lost.
                let stats = try await storage.stats()
                #expect(stats.count(.succeeded) == total)
                let claimedTwice = try await allJobs(in: storage).count { $0.attempt != 1 || $0.state != .succeeded }
                #expect(claimedTwice == 0)
                // And the work was shared: every process ran some (from its "worker stopped" line).
                let perProcess = children.map { CLIServer.succeeded(inLog: $0.output.stderr) }
                #expect(perProcess.allSatisfy { $0 > 0 } && perProcess.reduce(0, +) == total, "succeeded per process: \(perProcess)")
            }
        }
    }

    @Test("SIGKILL a worker process mid-run, start another: none is lost", arguments: CLIServer.allCases)
    func killedWorkerLosesNothing(_ server: CLIServer) async throws {
        let total = 300
        try await server.withScratchStore { url, storage in
            let now = Date()
            let payload = JobPayload(bytes: Array(#"{"ms": 100}"#.utf8))
            let ids = try await storage.enqueue(
                (0..<total).map { _ in NewJob(kind: "spool.sleep", payload: payload, runAt: now, createdAt: now) }, whenFull: .fail,
                now: now
            ).map(\.id)
            try await withTemporaryFolder { folder in
                // Short leases and a 1 s rescue by the elected leader (the second process takes
                // the killed leader's place within the 10 s leader TTL).
                let work = ["work", "--database", url, "--concurrency", "10", "--lease", "2", "--rescue-interval", "1"]
                let first = try SpoolChild(work, in: folder)
                defer { first.removeOutput() }
                let before = try await killHoldingJobs(first, storage, after: "60 jobs succeeded") { $0.count(.succeeded) >= 60 }
                #expect(try await first.waitForExit(timeout: .seconds(10)) == SIGKILL)
                #expect(before.count(.succeeded) < total, "the kill came mid-run")
                let orphaned = try await storage.stats().count(.running)
                #expect(orphaned > 0 && orphaned == before.count(.running), "the killed worker had jobs in hand: \(orphaned)")

                let second = try SpoolChild(work, in: folder)
                defer { second.removeOutput() }
                try await watchStorage(storage, while: second, timeout: .seconds(90), "all \(total) jobs finished") {
                    $0.count(.succeeded) + $0.count(.dead) + $0.count(.cancelled) == total
                }
                second.send(SIGTERM)
                #expect(try await second.waitForExit(timeout: .seconds(30)) == 0, "\(second.output.stderr)")

                let records = try await allJobs(in: storage)
                #expect(Set(records.map(\.id)) == Set(ids))
                let finished = records.count { $0.state == .succeeded }
                let twice = records.count { $0.attempt >= 2 }
                #expect(finished == total, "finished \(finished), lost \(total - finished)")
                #expect(twice >= 1 && twice <= orphaned, "twice \(twice), orphaned \(orphaned)")
            }
        }
    }
}

/// The servers the CLI tests run against, each with a fresh scratch store per test (a schema
/// on PostgreSQL, a key namespace on Redis) so tests never see each other's jobs.
enum CLIServer: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case postgres, redis

    var testDescription: String { rawValue }

    /// The environment variable with the test server's URL.
    var environmentKey: String { self == .postgres ? "SPOOL_TEST_POSTGRES_URL" : "SPOOL_TEST_REDIS_URL" }

    var baseURL: String? { ProcessInfo.processInfo.environment[environmentKey].flatMap { $0.isEmpty ? nil : $0 } }

    /// Runs `body` with the URL of a fresh scratch store (`?schema=…` or `?namespace=…`) and a
    /// running storage on it; deletes the scratch store afterwards when `body` succeeded. Without
    /// a server URL it returns at once (the test is a no-op), or fails when
    /// `SPOOL_REQUIRE_SERVERS=1`.
    func withScratchStore(_ body: (String, any JobStorage) async throws -> Void) async throws {
        guard let base = baseURL else {
            if ProcessInfo.processInfo.environment["SPOOL_REQUIRE_SERVERS"] == "1" {
                Issue.record("SPOOL_REQUIRE_SERVERS=1 but \(environmentKey) is not set")
            }
            return
        }
        let scratch = "cli_\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF)"
        let url = base + (base.contains("?") ? "&" : "?") + (self == .postgres ? "schema=" : "namespace=") + scratch
        switch self {
        case .postgres:
            let storage = try PostgresStorage(url: url, configuration: .init(poolSize: 2, maintenance: nil, startTimeout: .seconds(30)))
            try await Self.running({ try await storage.run() }, ready: storage.waitUntilReady) {
                try await body(url, storage)
                try await storage.dropSchema()
            }
        case .redis:
            let storage = try RedisStorage(url: url, configuration: .init(poolSize: 2, startTimeout: .seconds(30), maintenance: nil))
            try await Self.running({ try await storage.run() }, ready: storage.waitUntilReady) {
                try await body(url, storage)
                try await storage.dropNamespace()
            }
        }
    }

    /// Runs the storage's service (`run`) beside `body`, once `ready` returned; stops it
    /// afterwards.
    private static func running(
        _ run: @escaping @Sendable () async throws -> Void, ready: () async throws -> Void, _ body: () async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await run() }
            defer { group.cancelAll() }
            try await ready()
            try await body()
        }
    }

    /// The `succeeded` count of a `spool work` log's "worker stopped" line (0 when absent).
    static func succeeded(inLog log: String) -> Int {
        guard let line = log.split(separator: "\n").last(where: { $0.contains("worker stopped") }),
            let range = line.range(of: "succeeded: ")
        else { return 0 }
        return Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
    }
}
