// SQLiteStorage: inspection (one job, listings, stats) and operator actions (retry, cancel, delete, prune).

import Foundation
import GRDB
import Spool

extension SQLiteStorage {
    // MARK: Inspection

    private static let jobSQL = "SELECT \(SQLiteCoding.recordColumns) FROM spool_jobs WHERE id = ?"

    /// The job with `id`, or nil. One read.
    public func job(_ id: JobID) async throws -> JobRecord? {
        try await read("reading job \(id)") { db in
            try Row.fetchOne(db.cachedStatement(sql: Self.jobSQL), arguments: [SQLiteCoding.blob(id)]).map(SQLiteCoding.record)
        }
    }

    /// Jobs passing `filter`, newest (highest id) first, at most `limit` (capped at a million),
    /// after the cursor.
    ///
    /// Cost: with states that are all scheduled or final, sorts the entries of those states (and
    /// queue) from the state index; with only `running`, those of the lease index; otherwise
    /// (`available` among the states, or no state) walks the id index from the newest job until
    /// `limit` match, so a filter that matches few of many jobs reads more.
    public func jobs(_ filter: JobFilter, after: JobID?, limit: Int) async throws -> JobPage {
        // Pages larger than a million jobs are cut there (with a cursor to go on).
        let limit = min(max(1, limit), 1_000_000)
        var clauses: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let states = filter.states {
            if states.isEmpty { return JobPage(jobs: [], nextCursor: nil) }
            let sorted = states.map(\.rawValue).sorted()
            clauses.append("state IN (\(sorted.map { _ in "?" }.joined(separator: ", ")))")
            arguments += sorted
            // The partial index that holds these states, named by its own condition (the
            // planner matches a partial index only to a literal copy of its WHERE).
            if states.allSatisfy(SQLiteSchema.stateIndexHolds) {
                clauses.append(SQLiteSchema.stateIndexCondition)
            } else if states.allSatisfy({ $0 == .running }) {
                clauses.append("state = 'running'")
            }
        }
        if let queue = filter.queue {
            clauses.append("queue = ?")
            arguments.append(queue)
        }
        if let kind = filter.kind {
            clauses.append("kind = ?")
            arguments.append(kind)
        }
        if let after {
            clauses.append("id < ?")
            arguments.append(SQLiteCoding.blob(after))
        }
        arguments.append(limit + 1)
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let sql = "SELECT \(SQLiteCoding.recordColumns) FROM spool_jobs \(whereClause) ORDER BY id DESC LIMIT ?"
        let values = StatementArguments(arguments)
        return try await read("listing jobs") { db in
            // The SQL varies only with which filters are set: a handful of cached statements.
            let rows = try Row.fetchAll(db.cachedStatement(sql: sql), arguments: values)
            let jobs = try rows.prefix(limit).map(SQLiteCoding.record)
            return JobPage(jobs: jobs, nextCursor: rows.count > limit ? jobs.last?.id : nil)
        }
    }

    /// Counts per state and queue, each from the index that holds that state: available jobs
    /// on the claim index, running ones on the lease index, the others on the state index.
    private static let statsSQL = """
        SELECT queue, state, COUNT(*) FROM spool_jobs INDEXED BY spool_jobs_state
        WHERE \(SQLiteSchema.stateIndexCondition) GROUP BY state, queue
        UNION ALL
        SELECT queue, 'available', COUNT(*) FROM spool_jobs INDEXED BY spool_jobs_claim WHERE state = 'available' GROUP BY queue
        UNION ALL
        SELECT queue, 'running', COUNT(*) FROM spool_jobs INDEXED BY spool_jobs_lease WHERE state = 'running' GROUP BY queue
        """

    /// Counts by queue and state. Cost: one scan of the state, claim and lease indexes (no job
    /// rows are read).
    public func stats() async throws -> StorageStats {
        try await read("counting jobs") { db in
            var stats = StorageStats()
            let rows = try Row.fetchAll(db.cachedStatement(sql: Self.statsSQL))
            for row in rows {
                let queue: String = try row.decode(atIndex: 0)
                let state = try SQLiteCoding.state(row.decode(atIndex: 1))
                stats.queues[queue, default: [:]][state] = try row.decode(atIndex: 2)
            }
            return stats
        }
    }

    // MARK: Operator actions

    private static let stateSQL = "SELECT state, attempt, errors, unique_key FROM spool_jobs WHERE id = ?"

    private static let liveHolderSQL = """
        SELECT 1 FROM spool_jobs INDEXED BY spool_jobs_unique_key WHERE unique_key = ? AND \(SQLiteSchema.liveCondition) LIMIT 1
        """

    private static let manualRetrySQL = """
        UPDATE spool_jobs
        SET state = ?1, attempt = 0, run_at = ?2, expired_leases = 0, finished_at = NULL, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ?3
        """

    /// Makes dead or cancelled jobs available again with a fresh budget of attempts (attempt 0,
    /// run-at `now`), in one transaction. A job whose unique key another live job holds now is
    /// not retried.
    /// - Returns: the ids that were retried.
    public func retry(_ ids: [JobID], now: Date) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let nowMicros = SQLiteCoding.micros(now)
        let retried = try await write("retry of \(ids.count) job(s)") { db in
            var retried: [JobID] = []
            for id in ids {
                let blob = SQLiteCoding.blob(id)
                guard let row = try Row.fetchOne(db.cachedStatement(sql: Self.stateSQL), arguments: [blob]),
                    let next = JobStateMachine.next(from: try SQLiteCoding.state(row.decode(atIndex: 0)), on: .manualRetry)
                else { continue }
                let key: String? = try row.decode(atIndex: 3)
                if let key, try Row.fetchOne(db.cachedStatement(sql: Self.liveHolderSQL), arguments: [key]) != nil {
                    continue
                }
                try db.cachedStatement(sql: Self.manualRetrySQL).execute(arguments: [next.rawValue, nowMicros, blob])
                retried.append(id)
            }
            return retried
        }
        if !retried.isEmpty { workSignal.signal() }
        return retried
    }

    private static let cancelSQL = """
        UPDATE spool_jobs
        SET state = ?1, finished_at = ?2, errors = ?3, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ?4
        """

    /// Cancels jobs that have not finished, in one transaction, recording a `cancelled` error.
    /// A running job's lease is void at once: its worker's outcome and heartbeats are refused.
    /// - Returns: the ids that were cancelled.
    public func cancel(_ ids: [JobID], now: Date) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let nowMicros = SQLiteCoding.micros(now)
        let (cancelled, settled) = try await write("cancel of \(ids.count) job(s)") { db in
            var cancelled: [JobID] = []
            for id in ids {
                let blob = SQLiteCoding.blob(id)
                guard let row = try Row.fetchOne(db.cachedStatement(sql: Self.stateSQL), arguments: [blob]),
                    let next = JobStateMachine.next(from: try SQLiteCoding.state(row.decode(atIndex: 0)), on: .cancel)
                else { continue }
                let columns = StoredColumns(row: row, id: id)
                let attempt = StoredValue.attempt(try columns.integer(1, "attempt"))
                let error = JobAttemptError(attempt: attempt, at: now, message: "cancelled by request", reason: "cancelled")
                let errors = try SQLiteCoding.appending([error], to: columns.optionalText(2, "errors"))
                try db.cachedStatement(sql: Self.cancelSQL).execute(arguments: [next.rawValue, nowMicros, errors, blob])
                cancelled.append(id)
            }
            return (cancelled, try Self.settleDependents(db))
        }
        finishWatch.notify(cancelled + settled.cancelled)
        batchWatch.notify(settled.finishedBatches)
        if !cancelled.isEmpty { workSignal.signal() }  // a running job's slot under a max-running limit is free
        return cancelled
    }

    /// For its batch and its dependents, an unfinished job of a workflow that is deleted was
    /// cancelled (at `?2`): this counts it so, before the delete.
    private static let cancelBeforeDeleteSQL = """
        UPDATE spool_jobs SET state = 'cancelled', finished_at = ?2
        WHERE id = ?1 AND (batch_id IS NOT NULL OR has_dependents IS NOT NULL) AND NOT \(SQLiteSchema.finishedCondition)
        """

    /// Deletes jobs in any state, in one transaction. A running job's worker loses its lease.
    /// An unfinished job of a batch, or one that others depend on, counts as cancelled for its
    /// batch and its dependents.
    /// - Returns: the ids that existed and were deleted.
    public func delete(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let nowMicros = SQLiteCoding.micros(Date())
        let (deleted, settled) = try await write("delete of \(ids.count) job(s)") { db in
            let statement = try db.cachedStatement(sql: "DELETE FROM spool_jobs WHERE id = ?")
            let cancel = try db.cachedStatement(sql: Self.cancelBeforeDeleteSQL)
            var deleted: [JobID] = []
            for id in ids {
                let blob = SQLiteCoding.blob(id)
                try cancel.execute(arguments: [blob, nowMicros])
                try statement.execute(arguments: [blob])
                if db.changesCount > 0 { deleted.append(id) }
            }
            return (deleted, try Self.settleDependents(db))
        }
        finishWatch.notify(deleted + settled.cancelled)
        batchWatch.notify(settled.finishedBatches)
        if !deleted.isEmpty || settled.released { workSignal.signal() }
        return deleted
    }

    private static let pruneSQL = """
        DELETE FROM spool_jobs WHERE rowid IN (
            SELECT rowid FROM spool_jobs INDEXED BY spool_jobs_finished WHERE \(SQLiteSchema.finishedCondition) AND finished_at < ?
            ORDER BY finished_at LIMIT ?
        )
        """

    private static let pruneBatchesSQL = """
        SELECT id FROM spool_batches INDEXED BY spool_batches_finished WHERE finished_at IS NOT NULL AND finished_at < ?
        ORDER BY finished_at LIMIT ?
        """

    /// Deletes at most `limit` finished jobs (succeeded, dead, cancelled) that finished before
    /// `before`, oldest first, in one transaction, and as many batches that first finished
    /// before then (with their callbacks). Cost: an index range over finished jobs and batches.
    /// - Returns: how many jobs were deleted.
    public func prune(finishedBefore before: Date, limit: Int) async throws -> Int {
        guard limit > 0 else { return 0 }
        let beforeMicros = SQLiteCoding.micros(before)
        return try await write("prune of finished jobs") { db in
            try db.cachedStatement(sql: Self.pruneSQL).execute(arguments: [beforeMicros, limit])
            let pruned = db.changesCount
            for id in try Data.fetchAll(db.cachedStatement(sql: Self.pruneBatchesSQL), arguments: [beforeMicros, limit]) {
                try db.execute(sql: "DELETE FROM spool_batch_callbacks WHERE batch_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM spool_batches WHERE id = ?", arguments: [id])
            }
            return pruned
        }
    }
}
