// SQLiteStorage: batches and dependencies (JobBatching). The counts and callbacks of a batch are
// kept by triggers (see SQLiteSchema, version 5); a job's dependents are settled here, in the
// transaction of the statement that ended it.

import Foundation
import GRDB
import Spool

/// Batches and dependencies on the SQLite driver.
///
/// Every statement that moves a job of a batch into or out of a final state counts it in the
/// batch in the same statement (a trigger), and the batch's first finish enqueues its callbacks
/// there too; so an outcome and its bookkeeping commit together, whichever process writes it.
/// A job with dependents that ends leaves a note that the same transaction settles before it
/// commits: its dependents are released, or cancelled (and theirs in turn).
///
/// Cost: a batch job's finish updates one batch row more; any write that can end jobs reads
/// the (usually empty) table of notes once. Reading a batch counts its jobs' states, one pass
/// over its jobs.
extension SQLiteStorage: JobBatching {
    public func enqueueBatch(_ batch: NewBatch, whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        let batch = try batch.validated()
        return try await enqueueWorkflow(batch.jobs, batch: batch, now: now)
    }

    public func batch(_ id: BatchID) async throws -> BatchRecord? {
        try await read("reading batch \(id)") { db in try Self.batchRecord(id, db) }
    }

    public func batches(after cursor: BatchID?, limit: Int) async throws -> BatchPage {
        let limit = min(max(1, limit), 1_000_000)
        return try await read("listing batches") { db in
            let sql =
                cursor == nil
                ? "SELECT id FROM spool_batches ORDER BY id DESC LIMIT ?"
                : "SELECT id FROM spool_batches WHERE id < ? ORDER BY id DESC LIMIT ?"
            var arguments: [(any DatabaseValueConvertible)?] = []
            if let cursor { arguments.append(SQLiteCoding.blob(cursor.raw)) }
            arguments.append(limit + 1)
            let ids = try Data.fetchAll(db.cachedStatement(sql: sql), arguments: StatementArguments(arguments))
            let batches = try ids.prefix(limit).compactMap { try Self.batchRecord(BatchID(SQLiteCoding.id($0)), db) }
            return BatchPage(batches: batches, nextCursor: ids.count > limit ? batches.last?.id : nil)
        }
    }

    private static let batchJobsSQL = """
        SELECT \(SQLiteCoding.recordColumns) FROM spool_jobs INDEXED BY spool_jobs_batch
        WHERE batch_id IS NOT NULL AND batch_id = ? AND id > ? ORDER BY id LIMIT ?
        """

    public func jobs(inBatch id: BatchID, after cursor: JobID?, limit: Int) async throws -> JobPage {
        let limit = min(max(1, limit), 1_000_000)
        let after = SQLiteCoding.blob(cursor ?? JobID(high: 0, low: 0))
        return try await read("listing the jobs of batch \(id)") { db in
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: Self.batchJobsSQL), arguments: [SQLiteCoding.blob(id.raw), after, limit + 1])
            let jobs = try rows.prefix(limit).map(SQLiteCoding.record)
            return JobPage(jobs: jobs, nextCursor: rows.count > limit ? jobs.last?.id : nil)
        }
    }

    private static let unfinishedMembersSQL = """
        SELECT id, attempt, errors FROM spool_jobs INDEXED BY spool_jobs_batch
        WHERE batch_id IS NOT NULL AND batch_id = ? AND NOT \(SQLiteSchema.finishedCondition)
        """

    public func cancelBatch(_ id: BatchID, now: Date) async throws -> [JobID]? {
        let nowMicros = SQLiteCoding.micros(now)
        let outcome = try await write("cancel of batch \(id)") { db -> ([JobID], Settled)? in
            let blob = SQLiteCoding.blob(id.raw)
            guard try Self.batchRecord(id, db, counts: false) != nil else { return nil }
            try db.execute(
                sql: """
                    UPDATE spool_batches SET cancelled_at = ?
                    WHERE id = ? AND cancelled_at IS NULL AND succeeded + dead + cancelled < total
                    """, arguments: [nowMicros, blob])
            var cancelled: [JobID] = []
            for row in try Row.fetchAll(db.cachedStatement(sql: Self.unfinishedMembersSQL), arguments: [blob]) {
                let member = try SQLiteCoding.id(row.decode(atIndex: 0))
                try Self.cancelPending(
                    member, row: row,
                    error: { JobAttemptError(attempt: $0, at: now, message: "cancelled with its batch", reason: "cancelled") },
                    at: now, db, anyState: true)
                cancelled.append(member)
            }
            return (cancelled, try Self.settleDependents(db))
        }
        guard let (cancelled, settled) = outcome else { return nil }
        finishWatch.notify(cancelled + settled.cancelled)
        batchWatch.notify(settled.finishedBatches + [id.raw])
        if !cancelled.isEmpty || settled.released { workSignal.signal() }
        return cancelled
    }

    public func waitUntilBatchFinished(_ id: BatchID) async throws -> BatchRecord? {
        let done = try await batchWatch.wait(for: id.raw, pollInterval: configuration.pollInterval) { _ in
            try await self.read("reading batch \(id)") { db -> Bool? in
                try Self.batchRecord(id, db, counts: false).map { $0.state != .running }
            }
        } isDone: {
            $0
        }
        guard done != nil else { return nil }
        return try await batch(id)
    }

    // MARK: Reading batches

    private static let batchSQL = """
        SELECT created_at, finished_at, cancelled_at, total, succeeded, dead, cancelled FROM spool_batches WHERE id = ?
        """
    private static let batchCountsSQL = """
        SELECT state, COUNT(*) FROM spool_jobs INDEXED BY spool_jobs_batch WHERE batch_id IS NOT NULL AND batch_id = ? GROUP BY state
        """
    private static let batchCallbacksSQL = "SELECT event, fired, id FROM spool_batch_callbacks WHERE batch_id = ?"

    /// The batch with `id`; without `counts`, its state, times and totals only (one row read).
    static func batchRecord(_ id: BatchID, _ db: Database, counts: Bool = true) throws -> BatchRecord? {
        let blob = SQLiteCoding.blob(id.raw)
        guard let row = try Row.fetchOne(db.cachedStatement(sql: batchSQL), arguments: [blob]) else { return nil }
        let columns = StoredColumns(row: row, id: id.raw)
        let total = StoredValue.count(try columns.integer(3, "total"))
        let succeeded = StoredValue.count(try columns.integer(4, "succeeded"))
        let dead = StoredValue.count(try columns.integer(5, "dead"))
        let cancelled = StoredValue.count(try columns.integer(6, "cancelled"))
        let cancelledAt = try columns.optionalInteger(2, "cancelled_at").map { SQLiteCoding.date(micros: $0) }
        let state = BatchState(total: total, succeeded: succeeded, dead: dead, cancelled: cancelled, cancelledAt: cancelledAt)
        var record = BatchRecord(
            id: id, state: state, total: total, counts: [:],
            createdAt: SQLiteCoding.date(micros: try columns.integer(0, "created_at")),
            finishedAt: try columns.optionalInteger(1, "finished_at").map { SQLiteCoding.date(micros: $0) },
            cancelledAt: cancelledAt, callbackJobs: [:], callbackEvents: [])
        guard counts else { return record }
        for row in try Row.fetchAll(db.cachedStatement(sql: batchCountsSQL), arguments: [blob]) {
            let state = try SQLiteCoding.state(row.decode(atIndex: 0))
            record.counts[state] = StoredValue.count(try StoredColumns(row: row, id: id.raw).integer(1, "count"))
        }
        for row in try Row.fetchAll(db.cachedStatement(sql: batchCallbacksSQL), arguments: [blob]) {
            let columns = StoredColumns(row: row, id: id.raw)
            guard let event = BatchEvent(rawValue: try columns.text(0, "event")) else { continue }
            record.callbackEvents.insert(event)
            if try columns.integer(1, "fired") != 0, let job = try columns.optionalID(2, "id") { record.callbackJobs[event] = job }
        }
        return record
    }

    // MARK: Settling dependents

    /// What settling the dependents of ended jobs did.
    struct Settled: Sendable {
        /// Some job became claimable (a dependent released, a callback enqueued).
        var released = false
        /// The jobs cancelled because a dependency failed.
        var cancelled: [JobID] = []
        /// The batches that finished (by their ids' bits, as ``SQLiteStorage/batchWatch`` knows them).
        var finishedBatches: [JobID] = []
    }

    private static let eventsSQL = "SELECT rowid, job_id, state, at FROM spool_workflow_events ORDER BY rowid LIMIT 256"

    /// Releases the pending dependents of `?1` (that ended at `?2`) whose last dependency this
    /// was: due at once, or at their run-at time.
    private static let releaseSQL = """
        UPDATE spool_jobs
        SET waiting_on = waiting_on - 1,
            state = CASE WHEN waiting_on > 1 THEN 'pending' WHEN run_at > ?2 THEN 'scheduled' ELSE 'available' END
        WHERE state = 'pending' AND id IN (SELECT job_id FROM spool_dependencies WHERE depends_on = ?1)
            AND (?3 OR on_dependency_failure = 'run')
        """

    private static let failedDependentsSQL = """
        SELECT id, attempt, errors FROM spool_jobs
        WHERE state = 'pending' AND id IN (SELECT job_id FROM spool_dependencies WHERE depends_on = ?) AND on_dependency_failure <> 'run'
        """

    /// Settles the dependents of the jobs that ended in this transaction (the notes the
    /// trigger left), in turn the dependents of the ones it cancels: one step per note, so a
    /// cascade through a chain of any length is a loop, not a recursion.
    static func settleDependents(_ db: Database) throws -> Settled {
        var settled = Settled()
        while true {
            let events = try Row.fetchAll(db.cachedStatement(sql: eventsSQL))
            guard let last = events.last else { return settled }
            let lastRowID: Int64 = try last.decode(atIndex: 0)
            try db.cachedStatement(sql: "DELETE FROM spool_workflow_events WHERE rowid <= ?").execute(arguments: [lastRowID])
            for event in events {
                let blob: Data = try event.decode(atIndex: 1)
                let id = try SQLiteCoding.id(blob)
                let columns = StoredColumns(row: event, id: id)
                let note = try columns.text(2, "state")
                // A batch's note: its callback jobs were stored.
                if note == "fired" || note == "finished" {
                    settled.released = true
                    if note == "finished" { settled.finishedBatches.append(id) }
                    continue
                }
                let ended = try SQLiteCoding.state(note, job: id)
                let at = try columns.integer(3, "at")
                try db.cachedStatement(sql: releaseSQL).execute(arguments: [blob, at, ended == .succeeded])
                if db.changesCount > 0 { settled.released = true }
                guard ended != .succeeded else { continue }
                for row in try Row.fetchAll(db.cachedStatement(sql: failedDependentsSQL), arguments: [blob]) {
                    let dependent = try SQLiteCoding.id(row.decode(atIndex: 0))
                    let date = SQLiteCoding.date(micros: at)
                    try cancelPending(
                        dependent, row: row, error: { .dependencyFailed(id, ended: ended, attempt: $0, at: date) }, at: date, db,
                        anyState: false)
                    settled.cancelled.append(dependent)
                }
            }
        }
    }

    private static let cancelOneSQL = """
        UPDATE spool_jobs
        SET state = 'cancelled', finished_at = ?1, errors = ?2, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ?3 AND (?4 OR state = 'pending') AND NOT \(SQLiteSchema.finishedCondition)
        """

    /// Cancels one unfinished job at `at` (only a pending one unless `anyState`), recording the
    /// error `error` makes for its attempt; `row` holds its (id, attempt, errors) when already
    /// read.
    static func cancelPending(
        _ id: JobID, row: Row?, error: (_ attempt: Int) -> JobAttemptError, at: Date, _ db: Database, anyState: Bool
    ) throws {
        let blob = SQLiteCoding.blob(id)
        guard let row = try row ?? Row.fetchOne(db, sql: "SELECT id, attempt, errors FROM spool_jobs WHERE id = ?", arguments: [blob])
        else { return }
        let columns = StoredColumns(row: row, id: id)
        let attempt = StoredValue.attempt(try columns.integer(1, "attempt"))
        let errors = try SQLiteCoding.appending([error(attempt)], to: columns.optionalText(2, "errors"))
        try db.cachedStatement(sql: cancelOneSQL).execute(arguments: [SQLiteCoding.micros(at), errors, blob, anyState])
    }
}
