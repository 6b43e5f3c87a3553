import Foundation
import Logging
import PostgresNIO
import Spool
import Testing

@testable import SpoolPostgres

/// The procedures that commit a claim or an outcome in one round trip, the transactions that
/// stand in for them on a schema without them, and the plan of a dependency's release.
@Suite("PostgreSQL driver, procedures and plans", .enabled(if: PostgresTestServer.enabled, PostgresTestServer.skipMessage))
struct PostgresRoutineTests {
    static let logger = Logger(label: "spool.test")

    static func job(_ id: JobID = JobID(), dependencies: [JobID] = [], now: Date = Date()) -> NewJob {
        var job = NewJob(
            queue: "default", kind: "noop", payload: JobPayload(bytes: []), runAt: now, createdAt: now, dependencies: dependencies)
        job.id = id
        return job
    }

    /// Runs `sql` on a test connection; an error names the statement.
    @discardableResult
    static func sql(_ sql: String, on connection: PostgresConnection) async throws -> [PostgresRow] {
        do {
            return try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()
        } catch {
            throw SpoolError(code: .storageUnavailable, message: "\(sql): \(String(reflecting: error))")
        }
    }

    /// Drops this build's procedures from `schema`, as a schema migrated by an older build lacks them.
    static func dropProcedures(in schema: String, on connection: PostgresConnection) async throws {
        for routine in PostgresRoutine.all { try await sql("DROP PROCEDURE \"\(schema)\".\(routine.name)", on: connection) }
    }

    /// Enqueues a job, claims it and stores a success and a failure: the round trip every
    /// worker makes, through whichever path `storage` takes.
    static func roundTrip(_ storage: PostgresStorage) async throws {
        let now = Date()
        let (first, second) = (job(now: now), job(now: now))
        _ = try await storage.enqueue([first, second], whenFull: .fail, now: now)
        let request = ClaimRequest(demands: [QueueDemand(queue: "default", limit: 10)], worker: "w", lease: .seconds(30), limit: 10)
        let claimed = try await storage.claim(request, now: now)
        #expect(Set(claimed.map(\.id)) == [first.id, second.id])
        let succeeded = try await storage.finish([JobCompletion(id: first.id, outcome: .succeeded(result: nil), at: now)], worker: "w")
        #expect(succeeded.lost.isEmpty)
        let failed = JobAttemptError(attempt: 1, at: now, message: "no")
        let report = try await storage.finish(
            [
                JobCompletion(id: second.id, outcome: .dead(error: failed), at: now),
                JobCompletion(id: JobID(), outcome: .succeeded(result: nil), at: now),
            ],
            worker: "w")
        #expect(report.lost.count == 1, "an outcome for a job the worker does not hold is reported lost")
        #expect(try await storage.job(first.id)?.state == .succeeded)
        #expect(try await storage.job(second.id)?.state == .dead)
        #expect(try await storage.claim(request, now: now).isEmpty)
    }

    @Test("claims and outcomes run as this build's procedures, and as transactions on a schema without them until migrate")
    func proceduresAndTheirStandIn() async throws {
        let url = try PostgresTestServer.requireURL()
        let schema = PostgresTestServer.schemaName("routines")
        let migrated = try PostgresStorage(url: url, configuration: PostgresTestServer.configuration(schema: schema))
        try await PostgresTestServer.running(migrated) { storage in
            #expect(storage.hasRoutines)
            try await Self.roundTrip(storage)
        }
        let names = PostgresRoutine.all.map(\.name)
        try await PostgresTestServer.withConnection(url: url) { connection in try await Self.dropProcedures(in: schema, on: connection) }
        // A schema at the current version without the procedures (migrated by an older build):
        // a storage that may not migrate takes the transactions, for prepared statements and not.
        for prepared in [true, false] {
            let stale = try PostgresStorage(
                url: url,
                configuration: PostgresTestServer.configuration(schema: schema, preparedStatements: prepared, migrateOnStart: false))
            try await PostgresTestServer.running(stale) { storage in
                #expect(!storage.hasRoutines)
                try await Self.roundTrip(storage)
                try await storage.migrate()
                #expect(storage.hasRoutines, "migrate() creates them and the storage uses them from then on")
                try await Self.roundTrip(storage)
            }
            try await PostgresTestServer.withConnection(url: url) { connection in
                let rows = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: "SELECT count(*) FROM pg_proc WHERE pronamespace = to_regnamespace($1) AND proname = ANY($2::text[])",
                        binds: binds {
                            $0.append("\"\(schema)\"")
                            $0.append(names)
                        }), logger: Self.logger
                ).collect()
                #expect(try rows.first?.decode(Int.self) == names.count)
                try await Self.dropProcedures(in: schema, on: connection)
            }
        }
        try await PostgresTestServer.dropSchema(schema, url: url)
    }

    /// The table's statistics are those of a fresh one (none), as after a quick turnover: the
    /// plan must still go from the dependencies index to the dependents.
    @Test("a dependency's release reads its dependents by index, not every pending job")
    func releaseReadsOnlyDependents() async throws {
        let url = try PostgresTestServer.requireURL()
        try await PostgresTestServer.withStorage { storage in
            let (first, second, blocker) = (JobID(), JobID(), JobID())
            // 500 jobs pending on a job that does not end, and a chain first → second.
            let waiting = (0..<500).map { _ in Self.job(dependencies: [blocker]) }
            _ = try await storage.enqueue(
                [Self.job(blocker), Self.job(first), Self.job(second, dependencies: [first])] + waiting, whenFull: .fail, now: Date())
            let schema = storage.configuration.schema
            let (read, state) = try await PostgresTestServer.withConnection(url: url) { connection in
                try await Self.sql("BEGIN", on: connection)
                // The finish below finds its job by primary key (as the driver's does); a table
                // without statistics would be read whole otherwise.
                try await Self.sql("SET LOCAL enable_seqscan = off", on: connection)
                // As a finish would: the trigger releases `second` in this transaction.
                try await Self.sql(
                    "UPDATE \"\(schema)\".jobs SET state = 'succeeded', finished_at = \(PostgresCoding.micros(Date())) WHERE id = '\(PostgresCoding.uuid(first))'",
                    on: connection)
                let rows = try await Self.sql(
                    """
                    SELECT (SELECT seq_tup_read + idx_tup_fetch FROM pg_stat_xact_user_tables WHERE schemaname = '\(schema)' AND relname = 'jobs'),
                           (SELECT state FROM "\(schema)".jobs WHERE id = '\(PostgresCoding.uuid(second))')
                    """, on: connection)
                try await Self.sql("COMMIT", on: connection)
                return try rows[0].decode((Int64, String).self)
            }
            #expect(state == "available")
            #expect(read < 10, "the finish and the release read \(read) rows of jobs")
        }
    }

    /// A claim skips a row another transaction holds (SKIP LOCKED). Such a row comes back
    /// without a signal when that transaction ends, so the wait after that claim must look
    /// (it finds the job) rather than trust the claim and sleep until the next poll.
    @Test("a wait after a claim that skipped a locked job finds the job, without a signal or a poll")
    func waitAfterSkippedJob() async throws {
        let url = try PostgresTestServer.requireURL()
        try await PostgresTestServer.withStorage(pollInterval: .seconds(60)) { storage in
            let schema = storage.configuration.schema
            let now = Date()
            let job = Self.job(now: now)
            _ = try await storage.enqueue([job], whenFull: .fail, now: now)
            let request = ClaimRequest(demands: [QueueDemand(queue: "default", limit: 4)], worker: "w", lease: .seconds(30), limit: 4)
            let claimed = try await PostgresTestServer.withConnection(url: url) { connection in
                try await Self.sql("BEGIN", on: connection)
                try await Self.sql(
                    "SELECT 1 FROM \"\(schema)\".jobs WHERE id = '\(PostgresCoding.uuid(job.id))' FOR UPDATE", on: connection)
                let claimed = try await storage.claim(request, now: now)
                try await Self.sql("COMMIT", on: connection)
                return claimed
            }
            #expect(claimed.isEmpty, "the locked job was skipped")
            let waited = await ContinuousClock().measure {
                await storage.waitForWork(queues: ["default"], deadline: Date().addingTimeInterval(30), clock: SystemClock())
            }
            #expect(waited < .seconds(15), "waited \(waited) for a job that was due all along")
            #expect(try await storage.claim(request, now: now).map(\.id) == [job.id])
        }
    }
}
