import Foundation
import GRDB
import Spool
@testable import SpoolSQLite
import SpoolTesting
import Testing

/// A folder in the temporary directory, removed (with everything in it) after `body`.
func withTemporaryFolder<T>(_ body: (String) async throws -> T) async throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spool-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    return try await body(folder)
}

let t0 = Date(timeIntervalSince1970: 1_893_456_000)

func newJob(
    _ kind: String = "noop", queue: String = "default", priority: Int = 0, runAt: Date = t0, uniqueKey: String? = nil,
    maxAttempts: Int = 5, payload: String = "{}", timeout: Duration? = nil, metadata: [String: String] = [:]
) -> NewJob {
    NewJob(
        id: JobID(date: t0), queue: queue, kind: kind, payload: JobPayload(bytes: Array(payload.utf8)), priority: priority,
        maxAttempts: maxAttempts, runAt: runAt, createdAt: t0, uniqueKey: uniqueKey, timeout: timeout, metadata: metadata
    )
}

func claim(
    _ storage: any JobStorage, _ limit: Int, queue: String = "default", worker: String = "w1", at now: Date = t0
) async throws -> [ClaimedJob] {
    try await storage.claim(ClaimRequest(demands: [QueueDemand(queue: queue, limit: limit)], worker: worker, lease: .seconds(30)), now: now)
}

/// The SpoolError an expression threw, or a failure.
func spoolError(_ body: () async throws -> Void) async -> SpoolError? {
    do {
        try await body()
        return nil
    } catch let error as SpoolError {
        return error
    } catch {
        Issue.record("expected a SpoolError, got \(error)")
        return nil
    }
}

@Suite("SQLite driver")
struct SQLiteStorageTests {
    // MARK: Schema and migrations

    @Test("a fresh file is migrated on open, in WAL mode, with durable commits")
    func freshFileIsMigrated() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/fresh.sqlite"
            let storage = try await SQLiteStorage.open(path: path)
            #expect(try await storage.fileSchemaVersion() == SQLiteStorage.schemaVersion)
            #expect(SQLiteStorage.schemaVersion >= 1)
            #expect(try storage.writerSynchronous() == 2, "synchronous = FULL by default")
            try storage.close()
            let again = try SQLiteStorage.migrate(path: path)
            #expect(again.applied.isEmpty && again.from == SQLiteStorage.schemaVersion && again.to == SQLiteStorage.schemaVersion)
            #expect(again.description == "schema version \(SQLiteStorage.schemaVersion), up to date")

            let queue = try DatabaseQueue(path: path)
            let (tables, indexes, journal, migrations, jobsSQL) = try await queue.read { db in
                (
                    try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
                    try String.fetchAll(
                        db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'spool_%' ORDER BY name"),
                    try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                    try Int.fetchAll(db, sql: "SELECT version FROM spool_migrations ORDER BY version"),
                    try String.fetchAll(db, sql: "SELECT sql FROM sqlite_master WHERE tbl_name = 'spool_jobs' AND sql IS NOT NULL")
                )
            }
            // No IN list in what SQLite evaluates on every row written (the CHECK, the partial
            // indexes' WHERE, the triggers): each would build a temporary b-tree per row. The
            // table, 7 indexes, 4 triggers.
            #expect(jobsSQL.count == 12 && jobsSQL.allSatisfy { !$0.contains(" IN (") }, "\(jobsSQL)")
            // The rebuilt table keeps its CHECK.
            await #expect(throws: (any Error).self) {
                try await queue.write { db in
                    try db.execute(
                        sql:
                            "INSERT INTO spool_jobs (id, queue, kind, priority, state, max_attempts, run_at, created_at) VALUES (x'01', 'q', 'k', 0, 'lost', 1, 0, 0)"
                    )
                }
            }
            #expect(
                tables == [
                    "spool_batch_callbacks", "spool_batches", "spool_dependencies", "spool_jobs", "spool_migrations",
                    "spool_queue_starts", "spool_queues", "spool_workflow_events",
                ])
            #expect(
                indexes == [
                    "spool_batches_finished", "spool_dependencies_depends_on", "spool_jobs_batch", "spool_jobs_claim", "spool_jobs_due",
                    "spool_jobs_finished", "spool_jobs_lease", "spool_jobs_state", "spool_jobs_unique_key", "spool_queue_starts_queue",
                ])
            #expect(journal == "wal")
            #expect(migrations == SQLiteSchema.migrations.map(\.version) && migrations.last == SQLiteStorage.schemaVersion)
        }
    }

    @Test("durability is configurable; with normal, an enqueue reaches the disk within the sync interval")
    func durabilityIsConfigurable() async throws {
        let storage = try SQLiteStorage.temporary(configuration: .init(durability: .normal, syncInterval: .milliseconds(20)))
        #expect(try storage.writerSynchronous() == 1)
        _ = try await storage.enqueue([newJob()], whenFull: .fail, now: t0)
        await waitForCheckpoints(storage, 1)
        #expect(SQLiteStorage.Configuration.Durability("Normal") == .normal && SQLiteStorage.Configuration.Durability("off") == nil)
    }

    @Test("claims and heartbeats do not wait for the disk, and leave later commits durable")
    func claimsLeaveCommitsDurable() async throws {
        let storage = try await SQLiteStorage.openTemporary()
        _ = try await storage.enqueue([newJob(), newJob()], whenFull: .fail, now: t0)
        let claimed = try await claim(storage, 2)
        #expect(claimed.count == 2)
        #expect(try storage.writerSynchronous() == 2, "back to FULL after a claim")
        let lost = try await storage.heartbeat(claimed.map { JobHeartbeat(id: $0.id) }, worker: "w1", lease: .seconds(30), now: t0).lost
        #expect(lost.isEmpty)
        #expect(try storage.writerSynchronous() == 2, "back to FULL after a heartbeat")
        // A claim that finds nothing restores it too.
        #expect(try await claim(storage, 2).isEmpty)
        #expect(try storage.writerSynchronous() == 2)
    }

    /// Waits until `storage`'s own checkpoint connection has checkpointed `count` times in all.
    func waitForCheckpoints(_ storage: SQLiteStorage, _ count: Int) async {
        let checkpointer = storage.checkpointer
        while true {
            let ticket = checkpointer.checkpointed.ticket()
            if checkpointer.completed.load(ordering: .acquiring) >= count { return }
            await checkpointer.checkpointed.wait(ticket)
        }
    }

    @Test("outcomes do not wait for the disk unless asked to, and reach it within the sync interval")
    func outcomesSyncWithinTheInterval() async throws {
        for syncsOutcomes in [false, true] {
            let storage = try SQLiteStorage.temporary(configuration: .init(syncsOutcomes: syncsOutcomes, syncInterval: .milliseconds(20)))
            _ = try await storage.enqueue([newJob()], whenFull: .fail, now: t0)
            #expect(storage.checkpointer.completed.load(ordering: .acquiring) == 0, "an enqueue waits for the disk: nothing to sync later")
            let claimed = try await claim(storage, 1)
            _ = try await storage.finish(claimed.map { JobCompletion(id: $0.id, outcome: .succeeded(result: nil), at: t0) }, worker: "w1")
            #expect(try storage.writerSynchronous() == 2, "back to FULL after an outcome")
            // The claim (and the outcome, by default) committed without a sync: a checkpoint,
            // which syncs the WAL first, follows within the interval.
            await waitForCheckpoints(storage, 1)
            #expect(try await storage.job(claimed[0].id)?.state == .succeeded)
        }
    }

    @Test("a busy writer leaves its checkpoints to the checkpoint connection, and the WAL stays bounded")
    func checkpointsRunOffTheWriter() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/busy.sqlite"
            // No timed syncs: every checkpoint counted below was asked for by the writer's hook.
            let storage = try await SQLiteStorage.open(path: path, configuration: .init(syncInterval: .seconds(3_600)))
            var maxWAL = 0
            for _ in 0..<20 {
                _ = try await storage.enqueue((0..<1_000).map { _ in newJob() }, whenFull: .fail, now: t0)
                let claimed = try await claim(storage, 1_000)
                _ = try await storage.finish(
                    claimed.map { JobCompletion(id: $0.id, outcome: .succeeded(result: nil), at: t0) }, worker: "w1")
                let size = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
                maxWAL = max(maxWAL, size)
            }
            // 20,000 jobs written three times each: far past the 1,000-page threshold.
            await waitForCheckpoints(storage, 1)
            // The writer would let it reach the backstop (8,000 pages, 32 MiB) before checkpointing.
            #expect(maxWAL < Int(WALCheckpointer.backstopPages) * 3 / 4 * 4_096, "WAL reached \(maxWAL) bytes")
            #expect(try await storage.stats().count(.succeeded) == 20_000)
            try storage.close()
        }
    }

    @Test("without migrate-on-open, an unmigrated file is refused until `migrate(path:)` runs")
    func explicitMigration() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/explicit.sqlite"
            // A file created by another program: no Spool tables.
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in try db.execute(sql: "CREATE TABLE app_things (id INTEGER PRIMARY KEY)") }
            try queue.close()

            let refused = await spoolError { _ = try await SQLiteStorage.open(path: path, configuration: .init(migrateOnOpen: false)) }
            #expect(refused?.code == .storageUnavailable)
            #expect(refused?.message.contains("schema version 0") == true)
            #expect(refused?.message.contains("spool migrate") == true)
            #expect(refused?.message.contains(path) == true)

            let report = try SQLiteStorage.migrate(path: path)
            #expect(report.from == 0 && report.to == SQLiteStorage.schemaVersion && report.applied.count == SQLiteSchema.migrations.count)
            #expect(report.description.hasPrefix("schema version 0 → \(SQLiteStorage.schemaVersion): applied 1: "))
            let storage = try await SQLiteStorage.open(path: path, configuration: .init(migrateOnOpen: false))
            #expect(try await storage.fileSchemaVersion() == SQLiteStorage.schemaVersion)
            _ = try await storage.enqueue([newJob()], whenFull: .fail, now: t0)
            try storage.close()
            let reopened = try await SQLiteStorage.open(path: path, configuration: .init(migrateOnOpen: false))
            #expect(try await reopened.stats().count(.available) == 1)
            let tables = try await DatabaseQueue(path: path).read { db in try db.tableExists("app_things") }
            #expect(tables, "the application's own table is left alone")
        }
    }

    @Test("a file with a newer schema is refused, naming both versions, and left unchanged")
    func newerSchemaIsRefused() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/newer.sqlite"
            let storage = try await SQLiteStorage.open(path: path)
            let id = try await storage.enqueue([newJob()], whenFull: .fail, now: t0)[0].id
            try storage.close()
            let future = SQLiteStorage.schemaVersion + 41
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in
                try db.execute(
                    sql: "INSERT INTO spool_migrations (version, name, applied_at) VALUES (?, 'from the future', 0)", arguments: [future])
            }
            try queue.close()

            let attempts: [@Sendable () async throws -> Void] = [
                { _ = try await SQLiteStorage.open(path: path) },
                { _ = try await SQLiteStorage.open(path: path, configuration: .init(migrateOnOpen: false)) },
                { _ = try SQLiteStorage.migrate(path: path) },
            ]
            for attempt in attempts {
                let error = await spoolError(attempt)
                #expect(error?.code == .storageUnavailable)
                #expect(error?.message.contains("schema version \(future)") == true, "\(String(describing: error))")
                #expect(error?.message.contains("(\(SQLiteStorage.schemaVersion))") == true, "\(String(describing: error))")
                #expect(error?.message.contains(path) == true)
            }
            let (version, jobs) = try await DatabaseQueue(path: path).read { db in
                (
                    try Int.fetchOne(db, sql: "SELECT MAX(version) FROM spool_migrations"),
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM spool_jobs")
                )
            }
            #expect(version == future && jobs == 1, "nothing was changed")
            _ = id
        }
    }

    @Test("the state lists in the schema agree with the state machine")
    func stateListsMatchTheModel() {
        func list(_ states: [JobState]) -> String { states.map { "'\($0.rawValue)'" }.joined(separator: ", ") }
        let stored = JobState.allCases
        #expect(SQLiteSchema.liveStates == list(stored.filter(\.isLive)))
        #expect(SQLiteSchema.finishedStates == list(stored.filter(\.isFinished)))
        #expect(SQLiteSchema.stateIndexStates == list(stored.filter(SQLiteSchema.stateIndexHolds)))
        #expect(!SQLiteSchema.stateIndexHolds(.available) && !SQLiteSchema.stateIndexHolds(.running))
        #expect(SQLiteSchema.finishedCondition == "(state = 'succeeded' OR state = 'dead' OR state = 'cancelled')")
        // The migration that last built the table's indexes.
        let latest = SQLiteSchema.migrations.last { $0.sql.contains("CREATE INDEX spool_jobs_state") }?.sql ?? ""
        for condition in [SQLiteSchema.liveCondition, SQLiteSchema.finishedCondition, SQLiteSchema.stateIndexCondition] {
            #expect(latest.contains("WHERE \(condition)") || latest.contains("AND \(condition)"), "\(condition) is an index's WHERE")
        }
        #expect(JobStateMachine.next(from: .available, on: .claim) == .running)
        #expect(JobStateMachine.next(from: .scheduled, on: .becomeDue) == .available)
    }

    @Test("a version 1 file migrates to the new indexes with its jobs, counts and listings intact")
    func version1FileMigrates() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/v1.sqlite"
            // A file as version 1 left it, with a job in every state over two queues.
            let queue = try DatabaseQueue(path: path)
            let expected = try await queue.write { db -> [String: [JobState: [JobID]]] in
                var expected: [String: [JobState: [JobID]]] = [:]
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.execute(
                    sql:
                        "CREATE TABLE spool_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
                )
                try db.execute(sql: SQLiteSchema.migrations[0].sql)
                try db.execute(sql: "INSERT INTO spool_migrations VALUES (1, 'v1', 0)")
                // Every state version 1 could store (`pending` came later).
                for (index, state) in JobState.allCases.filter({ $0 != .pending }).enumerated() {
                    for name in ["a", "b"] {
                        for _ in 0..<(index + 1) {
                            let id = JobID(date: t0)
                            expected[name, default: [:]][state, default: []].append(id)
                            try db.execute(
                                sql: """
                                    INSERT INTO spool_jobs (id, queue, kind, priority, state, max_attempts, run_at, created_at, lease_owner, lease_expires_at)
                                    VALUES (?, ?, 'noop', 0, ?, 5, 0, 0, ?, ?)
                                    """,
                                arguments: [
                                    SQLiteCoding.blob(id), name, state.rawValue, state == .running ? "w1" : nil,
                                    state == .running ? 1 : nil,
                                ]
                            )
                        }
                    }
                }
                return expected
            }
            try queue.close()
            let storage = try await SQLiteStorage.open(path: path)
            #expect(try await storage.fileSchemaVersion() == SQLiteStorage.schemaVersion)
            let stats = try await storage.stats()
            for (name, states) in expected {
                for (state, ids) in states {
                    #expect(stats.count(state, queue: name) == ids.count, "\(state) in \(name)")
                    let page = try await storage.jobs(JobFilter(states: [state], queue: name), after: nil, limit: 100)
                    #expect(page.jobs.map(\.id) == ids.sorted(by: >), "\(state) in \(name)")
                }
            }
            for states: Set<JobState> in [[.available, .running], [.succeeded, .dead], [.running], [.available, .cancelled]] {
                let page = try await storage.jobs(JobFilter(states: states), after: nil, limit: 3)
                let all = expected.values.flatMap { byState in states.flatMap { byState[$0] ?? [] } }.sorted(by: >)
                #expect(page.jobs.map(\.id) == Array(all.prefix(3)) && page.nextCursor == all[2], "\(states)")
                let next = try await storage.jobs(JobFilter(states: states), after: page.nextCursor, limit: 100)
                #expect(next.jobs.map(\.id) == Array(all.dropFirst(3)), "\(states)")
            }
            // The claim and rescue still find their jobs through the rebuilt indexes.
            // (Scheduled jobs are due: the claim promotes them first.)
            let due = (expected["a"]?[.available]?.count ?? 0) + (expected["a"]?[.scheduled]?.count ?? 0)
            #expect(try await claim(storage, 100, queue: "a").count == due)
            let rescued = try await storage.rescueExpired(now: t0, poisonAfter: 10)
            let running: [JobID] = (expected["a"]?[.running] ?? []) + (expected["b"]?[.running] ?? [])
            #expect(Set(rescued.rescued) == Set(running))
            try storage.close()
        }
    }
}
