// PostgresStorage: batches and dependencies (JobBatching). Their bookkeeping is kept by the
// triggers of schema version 6 (see PostgresSchema+Workflows); this reads and steers it.

import Foundation
import PostgresNIO
import Spool

/// Batches and dependencies on the PostgreSQL driver.
///
/// Every statement that moves jobs of a batch into or out of a final state, in any process,
/// counts them in the batch in a trigger of that statement, and the batch's first finish
/// enqueues its callbacks there too (the batch's row lock decides which finish is the last);
/// so an outcome and its bookkeeping commit together. A job with dependents that ends settles
/// them in the same statement: released, or cancelled (and theirs in turn).
///
/// Cost: a statement that finishes jobs of a batch updates the batch's row once; any update of
/// jobs scans the rows it changed once for workflow jobs. Reading a batch counts its jobs'
/// states, one pass over its jobs.
extension PostgresStorage: JobBatching {
    public func enqueueBatch(_ batch: NewBatch, whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        let batch = try batch.validated()
        return try await enqueueWorkflow(batch.jobs, batch: batch, now: now)
    }

    /// Stores a workflow enqueue in a transaction of its own; a unique key taken by another
    /// process in the meantime runs it again (it then sees the holder).
    func enqueueWorkflow(_ jobs: [NewJob], batch: NewBatch?, now: Date) async throws -> [EnqueueResult] {
        try await readiness.wait(timeout: configuration.startTimeout, target: target)
        var attempt = 0
        while true {
            attempt += 1
            do {
                let (results, queues) = try await withTransaction { connection in
                    try await self.enqueueWorkflow(jobs, batch: batch, now: now, on: connection)
                }
                if !queues.isEmpty { workSignal.signal() }
                return results
            } catch {
                if PostgresFailure.sqlState(error) == "23505", PostgresFailure.constraint(error) == "jobs_unique_key", attempt < 3 {
                    continue
                }
                throw Self.workflowError(error, count: jobs.count, target: target)
            }
        }
    }

    static func workflowError(_ error: any Error, count: Int, target: String) -> any Error {
        if PostgresFailure.sqlState(error) == "23505", PostgresFailure.constraint(error) == "jobs_pkey" {
            return SpoolError(
                code: .invalidArgument, message: "a job with one of the call's ids already exists (nothing of the call was stored)")
        }
        return SpoolError.postgres(error, target: target, operation: "enqueue of \(count) job(s) of a workflow")
    }

    public func batch(_ id: BatchID) async throws -> BatchRecord? {
        let rows = try await rows(
            "\(Self.batchSelect(sql.prefix)) WHERE b.id = $1", binds { $0.append(PostgresCoding.uuid(id.raw)) }, "reading batch \(id)")
        return try rows.first.map(Self.batchRecord)
    }

    public func batches(after cursor: BatchID?, limit: Int) async throws -> BatchPage {
        let limit = min(max(1, limit), 1_000_000)
        let rows = try await rows(
            "\(Self.batchSelect(sql.prefix)) WHERE b.id < $1 ORDER BY b.id DESC LIMIT $2",
            binds {
                $0.append(PostgresCoding.uuid(cursor?.raw ?? JobID(high: .max, low: .max)))
                $0.append(Int64(limit + 1))
            }, "listing batches")
        let batches = try rows.prefix(limit).map(Self.batchRecord)
        return BatchPage(batches: batches, nextCursor: rows.count > limit ? batches.last?.id : nil)
    }

    public func jobs(inBatch id: BatchID, after cursor: JobID?, limit: Int) async throws -> JobPage {
        let limit = min(max(1, limit), 1_000_000)
        let rows = try await rows(
            """
            SELECT \(PostgresCoding.recordColumns(sql.prefix)) FROM \(sql.jobs)
            WHERE batch_id = $1 AND id > $2 ORDER BY batch_id, id LIMIT $3
            """,
            binds {
                $0.append(PostgresCoding.uuid(id.raw))
                $0.append(PostgresCoding.uuid(cursor ?? JobID(high: 0, low: 0)))
                $0.append(Int64(limit + 1))
            }, "listing the jobs of batch \(id)")
        let jobs = try rows.prefix(limit).map(PostgresCoding.record)
        return JobPage(jobs: jobs, nextCursor: rows.count > limit ? jobs.last?.id : nil)
    }

    public func cancelBatch(_ id: BatchID, now: Date) async throws -> [JobID]? {
        let s = sql.prefix
        let nowMicros = PostgresCoding.micros(now)
        let cancelled: [JobID]? = try await performing("cancel of batch \(id)") {
            try await withTransaction { connection in
                let uuid = PostgresCoding.uuid(id.raw)
                // The members first (as a finish locks them), then the batch.
                let members = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: "SELECT id FROM \(s)jobs WHERE batch_id = $1 AND state IN (\(PostgresSchema.liveStates)) FOR UPDATE",
                        binds: binds { $0.append(uuid) }))
                let found = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            UPDATE \(s)batches SET cancelled_at = CASE
                                WHEN cancelled_at IS NULL AND succeeded + dead + cancelled < total THEN $2 ELSE cancelled_at END
                            WHERE id = $1 RETURNING id
                            """,
                        binds: binds {
                            $0.append(uuid); $0.append(nowMicros)
                        }))
                guard !found.isEmpty else { return nil }
                guard !members.isEmpty else { return [] }
                let rows = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            UPDATE \(s)jobs j SET state = 'cancelled', finished_at = $2, lease_owner = NULL, lease_expires_at = NULL,
                                errors = \(PostgresCoding.capped("(\(Self.cancelledWithBatch))"))
                            WHERE j.batch_id = $1 AND j.state IN (\(PostgresSchema.liveStates))
                            RETURNING j.id
                            """,
                        binds: binds {
                            $0.append(uuid); $0.append(nowMicros)
                        }))
                return try rows.map { PostgresCoding.id(try $0.decode(UUID.self)) }
            }
        }
        guard let cancelled else { return nil }
        finishWatch.notify(cancelled + [id.raw])
        if !cancelled.isEmpty { workSignal.signal() }
        return cancelled
    }

    private static let cancelledWithBatch = """
        j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempt, 'at', $2::bigint, 'message', 'cancelled with its batch', 'reason', 'cancelled'))
        """

    /// Waits until the batch has finished, woken by the finish notification its last outcome
    /// sends (in any process), polling as ``waitUntilFinished(_:)`` does as a safety net.
    public func waitUntilBatchFinished(_ id: BatchID) async throws -> BatchRecord? {
        let s = sql.prefix
        let done = try await finishWatch.wait(for: id.raw, pollInterval: configuration.pollInterval) { _ in
            let rows = try await self.rows(
                "SELECT finished_at IS NOT NULL OR cancelled_at IS NOT NULL OR succeeded + dead + cancelled >= total FROM \(s)batches WHERE id = $1",
                binds { $0.append(PostgresCoding.uuid(id.raw)) }, "reading batch \(id)")
            return try rows.first?.decode(Bool.self)
        } isDone: {
            $0
        }
        guard done != nil else { return nil }
        return try await batch(id)
    }

    // MARK: Reading batches

    /// A batch's row with its jobs' counts by state and its callbacks, from `batches b`.
    private static func batchSelect(_ s: String) -> String {
        """
        SELECT b.id, b.created_at, b.finished_at, b.cancelled_at, b.total, b.succeeded, b.dead, b.cancelled,
            ARRAY(SELECT j.state FROM \(s)jobs j WHERE j.batch_id = b.id GROUP BY j.state ORDER BY j.state),
            ARRAY(SELECT count(*)::int8 FROM \(s)jobs j WHERE j.batch_id = b.id GROUP BY j.state ORDER BY j.state),
            ARRAY(SELECT c.event FROM \(s)batch_callbacks c WHERE c.batch_id = b.id ORDER BY c.event),
            ARRAY(SELECT c.fired FROM \(s)batch_callbacks c WHERE c.batch_id = b.id ORDER BY c.event),
            ARRAY(SELECT c.id FROM \(s)batch_callbacks c WHERE c.batch_id = b.id ORDER BY c.event)
        FROM \(s)batches b
        """
    }

    /// A batch from a row of ``batchSelect(_:)``; counts out of range are clamped.
    /// - Throws: ``SpoolError`` naming the batch for a state or event it does not know.
    private static func batchRecord(_ row: PostgresRow) throws -> BatchRecord {
        let cells = row.makeRandomAccess()
        let id = BatchID(PostgresCoding.id(try cells[0].decode(UUID.self)))
        let total = StoredValue.count(try cells[4].decode(Int64.self))
        let succeeded = StoredValue.count(try cells[5].decode(Int64.self))
        let dead = StoredValue.count(try cells[6].decode(Int64.self))
        let cancelled = StoredValue.count(try cells[7].decode(Int64.self))
        let cancelledAt = try cells[3].decode(Int64?.self).map { PostgresCoding.date(micros: $0) }
        var record = BatchRecord(
            id: id, state: BatchState(total: total, succeeded: succeeded, dead: dead, cancelled: cancelled, cancelledAt: cancelledAt),
            total: total, counts: [:], createdAt: PostgresCoding.date(micros: try cells[1].decode(Int64.self)),
            finishedAt: try cells[2].decode(Int64?.self).map { PostgresCoding.date(micros: $0) }, cancelledAt: cancelledAt,
            callbackJobs: [:], callbackEvents: [])
        let states = try cells[8].decode([String].self)
        let counts = try cells[9].decode([Int64].self)
        for (state, count) in zip(states, counts) {
            record.counts[try PostgresCoding.state(state, job: id.raw)] = StoredValue.count(count)
        }
        let events = try cells[10].decode([String].self)
        let fired = try cells[11].decode([Bool].self)
        let jobs = try cells[12].decode([UUID].self)
        for (index, text) in events.enumerated() {
            guard let event = BatchEvent(rawValue: text) else {
                throw PostgresCoding.corrupt("batch \(id) has a callback for an unknown event '\(text.prefix(40))'")
            }
            record.callbackEvents.insert(event)
            if index < fired.count, fired[index], index < jobs.count { record.callbackJobs[event] = PostgresCoding.id(jobs[index]) }
        }
        return record
    }
}
