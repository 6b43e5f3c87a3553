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
            let storage = try SQLiteStorage(path: path)
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
            // indexes' WHERE): each would build a temporary b-tree per row.
            #expect(jobsSQL.count == 7 && jobsSQL.allSatisfy { !$0.contains(" IN (") }, "\(jobsSQL)")
            // The rebuilt table keeps its CHECK.
            await #expect(throws: (any Error).self) {
                try await queue.write { db in
                    try db.execute(
                        sql:
                            "INSERT INTO spool_jobs (id, queue, kind, priority, state, max_attempts, run_at, created_at) VALUES (x'01', 'q', 'k', 0, 'lost', 1, 0, 0)"
                    )
                }
            }
            #expect(tables == ["spool_jobs", "spool_migrations", "spool_queue_starts", "spool_queues"])
            #expect(
                indexes == [
                    "spool_jobs_claim", "spool_jobs_due", "spool_jobs_finished", "spool_jobs_lease", "spool_jobs_state",
                    "spool_jobs_unique_key", "spool_queue_starts_queue",
                ])
            #expect(journal == "wal")
            #expect(migrations == SQLiteSchema.migrations.map(\.version) && migrations.last == SQLiteStorage.schemaVersion)
        }
    }

    @Test("durability is configurable")
    func durabilityIsConfigurable() async throws {
        let storage = try SQLiteStorage.temporary(configuration: .init(durability: .normal))
        #expect(try storage.writerSynchronous() == 1)
    }

    @Test("claims and heartbeats do not wait for the disk, and leave later commits durable")
    func claimsLeaveCommitsDurable() async throws {
        let storage = try SQLiteStorage.temporary()
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
            let storage = try SQLiteStorage(path: path, configuration: .init(syncInterval: .seconds(3_600)))
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

            let refused = await spoolError { _ = try SQLiteStorage(path: path, configuration: .init(migrateOnOpen: false)) }
            #expect(refused?.code == .storageUnavailable)
            #expect(refused?.message.contains("schema version 0") == true)
            #expect(refused?.message.contains("spool migrate") == true)
            #expect(refused?.message.contains(path) == true)

            let report = try SQLiteStorage.migrate(path: path)
            #expect(report.from == 0 && report.to == SQLiteStorage.schemaVersion && report.applied.count == SQLiteSchema.migrations.count)
            #expect(report.description.hasPrefix("schema version 0 → \(SQLiteStorage.schemaVersion): applied 1: "))
            let storage = try SQLiteStorage(path: path, configuration: .init(migrateOnOpen: false))
            #expect(try await storage.fileSchemaVersion() == SQLiteStorage.schemaVersion)
            _ = try await storage.enqueue([newJob()], whenFull: .fail, now: t0)
            try storage.close()
            let reopened = try SQLiteStorage(path: path, configuration: .init(migrateOnOpen: false))
            #expect(try await reopened.stats().count(.available) == 1)
            let tables = try await DatabaseQueue(path: path).read { db in try db.tableExists("app_things") }
            #expect(tables, "the application's own table is left alone")
        }
    }

    @Test("a file with a newer schema is refused, naming both versions, and left unchanged")
    func newerSchemaIsRefused() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/newer.sqlite"
            let storage = try SQLiteStorage(path: path)
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
                { _ = try SQLiteStorage(path: path) },
                { _ = try SQLiteStorage(path: path, configuration: .init(migrateOnOpen: false)) },
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
        #expect(SQLiteSchema.liveStates == list(JobState.allCases.filter(\.isLive)))
        #expect(SQLiteSchema.finishedStates == list(JobState.allCases.filter(\.isFinished)))
        #expect(SQLiteSchema.stateIndexStates == list(JobState.allCases.filter(SQLiteSchema.stateIndexHolds)))
        #expect(!SQLiteSchema.stateIndexHolds(.available) && !SQLiteSchema.stateIndexHolds(.running))
        #expect(SQLiteSchema.finishedCondition == "(state = 'succeeded' OR state = 'dead' OR state = 'cancelled')")
        let latest = SQLiteSchema.migrations.last?.sql ?? ""
        for condition in [SQLiteSchema.liveCondition, SQLiteSchema.finishedCondition, SQLiteSchema.stateIndexCondition] {
            #expect(latest.contains("WHERE \(condition)") || latest.contains("AND \(condition)"), "\(condition) is an index's WHERE")
        }
        #expect(JobStateMachine.next(from: .available, on: .claim) == .running)
        #expect(JobStateMachine.next(from: .scheduled, on: .becomeDue) == .available)
    }

    // MARK: Files

    @Test("everything survives close and reopen")
    func dataSurvivesReopen() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/durable.sqlite"
            var storage: SQLiteStorage? = try SQLiteStorage(path: path)
            let jobs = [
                newJob(
                    "a", priority: 3, uniqueKey: "key-1", payload: #"{"n":1}"#, timeout: .milliseconds(1500),
                    metadata: ["traceparent": "00-abc", "tag": "x"]),
                newJob("b", runAt: t0.addingTimeInterval(90)),
                newJob("c", queue: "other"),
                newJob("d", payload: ""),
            ]
            let ids = try await storage!.enqueue(jobs, whenFull: .fail, now: t0).map(\.id)
            let claimed = try await claim(storage!, 1)
            #expect(claimed.map(\.id) == [ids[0]])
            let lost = try await storage!.heartbeat(
                [JobHeartbeat(id: ids[0], progress: JobProgress(fraction: 0.25, message: "a quarter"))], worker: "w1",
                lease: .seconds(60), now: t0.addingTimeInterval(1)
            ).lost
            #expect(lost.isEmpty)
            _ = try await storage!.finish(
                [
                    JobCompletion(
                        id: ids[0],
                        outcome: .retry(
                            at: t0.addingTimeInterval(5), error: JobAttemptError(attempt: 1, at: t0, message: "flaky", reason: "error")),
                        at: t0.addingTimeInterval(2))
                ],
                worker: "w1"
            )
            try await storage!.setPaused(true, queue: "other")
            let before = try await allRecords(storage!)
            try storage!.close()
            storage = nil

            let reopened = try SQLiteStorage(path: path)
            let after = try await allRecords(reopened)
            #expect(after.count == 4)
            for (old, new) in zip(before, after) {
                #expect(describe(old) == describe(new))
            }
            let first = try #require(after.first { $0.id == ids[0] })
            #expect(first.state == .scheduled && first.attempt == 1 && first.runAt == t0.addingTimeInterval(5))
            #expect(first.errors == [JobAttemptError(attempt: 1, at: t0, message: "flaky", reason: "error")])
            #expect(first.progress == JobProgress(fraction: 0.25, message: "a quarter"))
            #expect(first.metadata == ["traceparent": "00-abc", "tag": "x"] && first.timeout == .milliseconds(1500))
            #expect(first.payload.text == #"{"n":1}"# && first.uniqueKey == "key-1" && first.priority == 3)
            #expect(first.attemptedAt == t0 && first.createdAt == t0)
            #expect(try await reopened.pausedQueues() == ["other"])
            let duplicate = try await reopened.enqueue([newJob(uniqueKey: "key-1")], whenFull: .fail, now: t0)
            #expect(duplicate[0].existing && duplicate[0].id == ids[0], "the unique key is still held")
            let next = try await claim(reopened, 10, at: t0.addingTimeInterval(100)).map(\.id)
            #expect(next == [ids[0], ids[3], ids[1]], "priority first, then run-at; got \(next)")
            #expect(try await claim(reopened, 10, queue: "other", at: t0.addingTimeInterval(100)).isEmpty, "still paused")
        }
    }

    private func allRecords(_ storage: SQLiteStorage) async throws -> [JobRecord] {
        try await storage.jobs(JobFilter(), after: nil, limit: 100).jobs
    }

    private func describe(_ record: JobRecord) -> String {
        "\(record.id) \(record.queue) \(record.kind) \(record.payload.text) \(record.priority) \(record.state) \(record.attempt) "
            + "\(record.maxAttempts) \(record.runAt) \(record.createdAt) \(String(describing: record.attemptedAt)) "
            + "\(String(describing: record.finishedAt)) \(String(describing: record.leaseOwner)) \(String(describing: record.leaseExpiresAt)) "
            + "\(record.errors) \(String(describing: record.uniqueKey)) \(String(describing: record.timeout)) "
            + "\(String(describing: record.result)) \(String(describing: record.progress)) \(record.expiredLeases) \(record.metadata.sorted { $0.key < $1.key })"
    }

    @Test("a file that is not a database gives a clear error and is left untouched")
    func notADatabase() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/notes.sqlite"
            let content = Data(String(repeating: "these are my notes, not a database\n", count: 200).utf8)
            try content.write(to: URL(fileURLWithPath: path))
            let error = await spoolError { _ = try SQLiteStorage(path: path) }
            #expect(error?.code == .storageUnavailable)
            #expect(error?.message.contains("not an SQLite database") == true, "\(String(describing: error))")
            #expect(error?.message.contains(path) == true)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == content, "the file is unchanged")
        }
    }

    @Test("a file in a missing folder gives a clear error")
    func missingFolder() async throws {
        let path = "/nonexistent-\(UUID().uuidString)/spool.sqlite"
        let error = await spoolError { _ = try SQLiteStorage(path: path) }
        #expect(error?.code == .storageUnavailable)
        #expect(
            error?.message.contains(path) == true && error?.message.contains("cannot be opened") == true, "\(String(describing: error))")
    }

    @Test("a write lock held too long by another connection gives a clear error, and nothing is lost")
    func lockedFile() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/locked.sqlite"
            let storage = try SQLiteStorage(path: path, configuration: .init(busyTimeout: .milliseconds(200)))
            var configuration = GRDB.Configuration()
            configuration.allowsUnsafeTransactions = true
            let other = try DatabaseQueue(path: path, configuration: configuration)
            try await other.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
            let error = await spoolError { _ = try await storage.enqueue([newJob()], whenFull: .fail, now: t0) }
            #expect(error?.code == .storageUnavailable)
            #expect(error?.message.contains("locked") == true && error?.message.contains(path) == true, "\(String(describing: error))")
            #expect(try await storage.stats().count(.available) == 0, "the failed enqueue stored nothing")
            try await other.writeWithoutTransaction { db in try db.execute(sql: "COMMIT") }
            _ = try await storage.enqueue([newJob()], whenFull: .fail, now: t0)
            #expect(try await storage.stats().count(.available) == 1)
        }
    }

    @Test("a closed storage refuses operations with a clear error")
    func closedStorage() async throws {
        let storage = try SQLiteStorage.temporary()
        try storage.close()
        let error = await spoolError { _ = try await storage.enqueue([newJob()], whenFull: .fail, now: t0) }
        #expect(error?.code == .storageUnavailable && error?.message.contains("closed") == true, "\(String(describing: error))")
        let readError = await spoolError { _ = try await storage.stats() }
        #expect(readError?.code == .storageUnavailable && readError?.message.contains("closed") == true)
    }

    @Test("a temporary store deletes its files when released")
    func temporaryFilesAreRemoved() async throws {
        var storage: SQLiteStorage? = try SQLiteStorage.temporary()
        let path = storage!.path
        _ = try await storage!.enqueue([newJob()], whenFull: .fail, now: t0)
        #expect(FileManager.default.fileExists(atPath: path))
        storage = nil
        #expect(!FileManager.default.fileExists(atPath: path) && !FileManager.default.fileExists(atPath: path + "-wal"))
    }

    // MARK: Semantics beyond the shared suite

    @Test("a duplicate id fails the whole batch")
    func duplicateIDFailsTheBatch() async throws {
        let storage = try SQLiteStorage.temporary()
        let existing = newJob()
        _ = try await storage.enqueue([existing], whenFull: .fail, now: t0)
        var copy = newJob()
        copy.id = existing.id
        let error = await spoolError { _ = try await storage.enqueue([newJob(), copy], whenFull: .fail, now: t0) }
        #expect(error?.code == .invalidArgument && error?.job == existing.id)
        #expect(try await storage.stats().count(.available) == 1, "nothing of the failed batch is stored")
        let invalid = await spoolError { _ = try await storage.enqueue([newJob(maxAttempts: 0)], whenFull: .fail, now: t0) }
        #expect(invalid?.code == .invalidArgument)
    }

    @Test("the error history keeps the newest entries up to the limit")
    func errorHistoryIsCapped() async throws {
        let storage = try SQLiteStorage.temporary()
        let id = try await storage.enqueue([newJob(maxAttempts: 100)], whenFull: .fail, now: t0)[0].id
        var now = t0
        let rounds = JobAttemptError.historyLimit + 5
        for round in 1...rounds {
            let claimed = try await claim(storage, 1, at: now)
            #expect(claimed.first?.attempt == round)
            let error = JobAttemptError(attempt: round, at: now, message: "failure \(round)")
            now = now.addingTimeInterval(1)
            let lost = try await storage.finish([JobCompletion(id: id, outcome: .retry(at: now, error: error), at: now)], worker: "w1").lost
            #expect(lost.isEmpty)
        }
        let record = try #require(try await storage.job(id))
        #expect(record.errors.count == JobAttemptError.historyLimit)
        #expect(record.errors.first?.message == "failure 6" && record.errors.last?.message == "failure \(rounds)")
    }

    @Test("a claim serves demands in order within the overall limit, skipping paused queues")
    func claimServesDemandsInOrder() async throws {
        let storage = try SQLiteStorage.temporary()
        let a = try await storage.enqueue((0..<3).map { _ in newJob(queue: "a") }, whenFull: .fail, now: t0).map(\.id)
        let b = try await storage.enqueue((0..<3).map { _ in newJob(queue: "b") }, whenFull: .fail, now: t0).map(\.id)
        let c = try await storage.enqueue((0..<3).map { _ in newJob(queue: "c") }, whenFull: .fail, now: t0).map(\.id)
        try await storage.setPaused(true, queue: "b")
        let request = ClaimRequest(
            demands: [QueueDemand(queue: "a", limit: 2), QueueDemand(queue: "b", limit: 5), QueueDemand(queue: "c", limit: 5)],
            worker: "w1", lease: .seconds(30), limit: 3
        )
        let claimed = try await storage.claim(request, now: t0).map(\.id)
        #expect(claimed == [a[0], a[1], c[0]])
        #expect(try await storage.job(b[0])?.state == .available)
    }

    @Test("a job cancelled by its handler records the reason with its attempt")
    func cancelledOutcome() async throws {
        let storage = try SQLiteStorage.temporary()
        let id = try await storage.enqueue([newJob(uniqueKey: "once")], whenFull: .fail, now: t0)[0].id
        _ = try await claim(storage, 1)
        _ = try await storage.finish([JobCompletion(id: id, outcome: .cancelled(reason: "user gave up"), at: t0)], worker: "w1")
        let record = try #require(try await storage.job(id))
        #expect(record.state == .cancelled && record.finishedAt == t0 && record.leaseOwner == nil)
        #expect(record.errors == [JobAttemptError(attempt: 1, at: t0, message: "user gave up", reason: "cancelled")])
        // The key is free again, and then a manual retry of the old job is refused.
        let fresh = try await storage.enqueue([newJob(uniqueKey: "once")], whenFull: .fail, now: t0)[0]
        #expect(!fresh.existing)
        #expect(try await storage.retry([id], now: t0).isEmpty, "another live job holds the key")
        _ = try await storage.delete([fresh.id])
        #expect(try await storage.retry([id], now: t0) == [id])
    }

    @Test("rescue resets with a normal end, and counts expiries in a row")
    func expiredLeasesResetOnNormalEnd() async throws {
        let storage = try SQLiteStorage.temporary()
        let id = try await storage.enqueue([newJob(maxAttempts: 100)], whenFull: .fail, now: t0)[0].id
        var now = t0
        for _ in 0..<2 {
            _ = try await claim(storage, 1, at: now)
            now = now.addingTimeInterval(31)
            #expect(try await storage.rescueExpired(now: now, poisonAfter: 2).rescued == [id])
        }
        #expect(try await storage.job(id)?.expiredLeases == 2)
        _ = try await claim(storage, 1, at: now)
        _ = try await storage.finish([JobCompletion(id: id, outcome: .handBack, at: now)], worker: "w1")
        let handedBack = try #require(try await storage.job(id))
        #expect(handedBack.expiredLeases == 0 && handedBack.attempt == 2 && handedBack.state == .available)
    }

    // MARK: Several connections to one file

    @Test("two stores on one file share unique keys and never claim the same job")
    func twoConnectionsShareOneFile() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/shared.sqlite"
            let one = try SQLiteStorage(path: path)
            let two = try SQLiteStorage(path: path)
            let first = try await one.enqueue([newJob(uniqueKey: "k")], whenFull: .fail, now: t0)[0]
            let second = try await two.enqueue([newJob(uniqueKey: "k")], whenFull: .fail, now: t0)[0]
            #expect(second.existing && second.id == first.id)
            _ = try await one.enqueue((0..<1000).map { _ in newJob() }, whenFull: .fail, now: t0)
            let claimed = try await withThrowingTaskGroup(of: [JobID].self) { group in
                for (index, storage) in [one, two, one, two].enumerated() {
                    group.addTask {
                        var mine: [JobID] = []
                        while true {
                            let batch = try await claim(storage, 7, worker: "w\(index)")
                            if batch.isEmpty { return mine }
                            mine += batch.map(\.id)
                        }
                    }
                }
                var all: [JobID] = []
                for try await ids in group { all += ids }
                return all
            }
            #expect(claimed.count == 1001 && Set(claimed).count == 1001)
        }
    }

    @Test("an idle waiter notices jobs enqueued through another connection by polling")
    func waiterNoticesOtherConnections() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/poll.sqlite"
            let waiting = try SQLiteStorage(path: path, configuration: .init(pollInterval: .milliseconds(20)))
            let other = try SQLiteStorage(path: path)
            let idle = EventRecorder<Bool>()
            let got = try await withThrowingTaskGroup(of: [JobID].self) { group in
                group.addTask {
                    // A worker's claim loop with an hour-long idle wait: `other` has its own wake
                    // signal, so only the poll can bring this loop back to claim.
                    while true {
                        let batch = try await claim(waiting, 10, at: Date())
                        if !batch.isEmpty { return batch.map(\.id) }
                        idle.record(true)
                        await waiting.waitForWork(queues: ["default"], deadline: Date().addingTimeInterval(3600), clock: SystemClock())
                    }
                }
                try await idle.waitForCount(1)
                let id = try await other.enqueue([newJob(runAt: Date())], whenFull: .fail, now: Date())[0].id
                let claimed = try await group.next() ?? []
                return claimed == [id] ? claimed : []
            }
            #expect(got.count == 1)
        }
    }

    @Test("waiting for a finish: woken by this process, noticed from another, nil when deleted")
    func waitingForFinish() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/finish.sqlite"
            let here = try SQLiteStorage(path: path, configuration: .init(pollInterval: .milliseconds(20)))
            let elsewhere = try SQLiteStorage(path: path)
            let ids = try await here.enqueue([newJob(), newJob(), newJob()], whenFull: .fail, now: t0).map(\.id)
            _ = try await claim(here, 3)
            let finished = EventRecorder<(JobID, JobState?)>()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for id in ids {
                    group.addTask { finished.record((id, try await here.waitUntilFinished(id)?.state)) }
                }
                _ = try await here.finish([JobCompletion(id: ids[0], outcome: .succeeded(result: nil), at: t0)], worker: "w1")
                try await finished.waitForCount(1)
                #expect(finished.all.first?.0 == ids[0] && finished.all.first?.1 == .succeeded)
                // Another connection (as another process would) finishes the second: seen by polling.
                _ = try await elsewhere.finish(
                    [JobCompletion(id: ids[1], outcome: .dead(error: JobAttemptError(attempt: 1, at: t0, message: "no")), at: t0)],
                    worker: "w1")
                try await finished.waitForCount(2)
                _ = try await here.delete([ids[2]])
                try await finished.waitForCount(3)
                try await group.waitForAll()
            }
            let states = Dictionary(uniqueKeysWithValues: finished.all.map { ($0.0, $0.1) })
            #expect(states[ids[1]] == .dead && states[ids[2]] == .some(nil))
        }
    }

    @Test("an empty result is kept as empty, not as no result")
    func emptyResult() async throws {
        let storage = try SQLiteStorage.temporary()
        let ids = try await storage.enqueue([newJob(), newJob()], whenFull: .fail, now: t0).map(\.id)
        _ = try await claim(storage, 2)
        _ = try await storage.finish(
            [
                JobCompletion(id: ids[0], outcome: .succeeded(result: []), at: t0),
                JobCompletion(id: ids[1], outcome: .succeeded(result: nil), at: t0),
            ], worker: "w1")
        #expect(try await storage.job(ids[0])?.result == [])
        #expect(try await storage.job(ids[1])?.result == nil)
    }

    // MARK: Batched statements

    @Test("a large batch mixing unique keys and plain jobs keeps its order, and a duplicate id deep in it stores nothing")
    func largeMixedBatch() async throws {
        let storage = try SQLiteStorage.temporary()
        let held = try await storage.enqueue([newJob(uniqueKey: "k1")], whenFull: .fail, now: t0)[0].id
        var jobs = (0..<150).map { index in
            newJob(uniqueKey: index == 70 ? "k1" : (index == 100 ? "k2" : nil), payload: index % 3 == 0 ? "" : "{\"i\":\(index)}")
        }
        jobs[40].metadata = ["trace": "t-40"]
        jobs[41].timeout = .seconds(3)
        let results = try await storage.enqueue(jobs, whenFull: .fail, now: t0)
        #expect(results.count == jobs.count)
        for (index, result) in results.enumerated() {
            if index == 70 {
                #expect(result.existing && result.id == held)
            } else {
                #expect(!result.existing && result.id == jobs[index].id && result.state == .available)
            }
        }
        #expect(try await storage.stats().count(.available) == 150)
        let record = try #require(try await storage.job(jobs[40].id))
        let payload = try record.payload.encoded()
        #expect(record.metadata == ["trace": "t-40"] && payload == Array("{\"i\":40}".utf8) && record.timeout == nil)
        #expect(try await storage.job(jobs[41].id)?.timeout == .seconds(3))
        let empty = try #require(try await storage.job(jobs[3].id))
        #expect(try empty.payload.encoded() == [])

        // An id that exists, deep in a batch of plain jobs (inside a multi-row statement).
        var again = (0..<130).map { _ in newJob() }
        again[97].id = jobs[5].id
        let error = await spoolError { _ = try await storage.enqueue(again, whenFull: .fail, now: t0) }
        #expect(error?.code == .invalidArgument && error?.job == jobs[5].id)
        // A duplicate within the batch itself.
        var twice = (0..<80).map { _ in newJob() }
        twice[66].id = twice[2].id
        let inner = await spoolError { _ = try await storage.enqueue(twice, whenFull: .fail, now: t0) }
        #expect(inner?.code == .invalidArgument && inner?.job == twice[2].id)
        #expect(try await storage.stats().count(.available) == 150, "nothing of the failed batches is stored")
    }

    @Test("a batch of successes writes those whose lease is held and reports the others")
    func batchedSuccesses() async throws {
        let storage = try SQLiteStorage.temporary()
        let ids = try await storage.enqueue((0..<100).map { _ in newJob() }, whenFull: .fail, now: t0).map(\.id)
        let claimed = try await claim(storage, 100)
        #expect(claimed.count == 100)
        _ = try await storage.cancel([ids[10]], now: t0)
        _ = try await storage.delete([ids[77]])
        let later = t0.addingTimeInterval(5)
        var completions = ids.enumerated().map { index, id in
            JobCompletion(id: id, outcome: .succeeded(result: index == 3 ? [] : (index == 4 ? Array("42".utf8) : nil)), at: later)
        }
        completions[50] = JobCompletion(
            id: ids[50], outcome: .retry(at: later, error: JobAttemptError(attempt: 1, at: later, message: "no")), at: later)
        let lost = try await storage.finish(completions, worker: "w1").lost
        #expect(Set(lost) == [ids[10], ids[77]])
        let done = try #require(try await storage.job(ids[0]))
        #expect(done.state == .succeeded && done.finishedAt == later && done.leaseOwner == nil && done.result == nil)
        #expect(try await storage.job(ids[3])?.result == [])
        #expect(try await storage.job(ids[4])?.result == Array("42".utf8))
        #expect(try await storage.job(ids[10])?.state == .cancelled)
        let retried = try #require(try await storage.job(ids[50]))
        #expect(retried.state == .scheduled && retried.errors.count == 1)
        #expect(try await storage.stats().count(.succeeded) == 97)
        // Written already: a second report of the same outcomes is refused, one by one.
        let again = try await storage.finish(Array(completions[0..<2]) + [completions[0]], worker: "w1").lost
        #expect(again == [ids[0], ids[1], ids[0]])
        // More successes than one statement takes, a lost lease in the second chunk.
        let many = try await storage.enqueue((0..<300).map { _ in newJob(queue: "many") }, whenFull: .fail, now: t0).map(\.id)
        #expect(try await claim(storage, 300, queue: "many").count == 300)
        _ = try await storage.delete([many[200]])
        let manyLost = try await storage.finish(
            many.map { JobCompletion(id: $0, outcome: .succeeded(result: nil), at: later) }, worker: "w1"
        ).lost
        #expect(manyLost == [many[200]])
        #expect(try await storage.stats().count(.succeeded, queue: "many") == 299)
        // Another worker's outcome is refused.
        let other = try await storage.enqueue([newJob(), newJob()], whenFull: .fail, now: t0).map(\.id)
        _ = try await claim(storage, 2, worker: "w2")
        let refused = try await storage.finish(
            other.map { JobCompletion(id: $0, outcome: .succeeded(result: nil), at: later) }, worker: "w1"
        ).lost
        #expect(Set(refused) == Set(other))
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
                for (index, state) in JobState.allCases.enumerated() {
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
            let storage = try SQLiteStorage(path: path)
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
