// PostgresStorage: inspection (one job, listings, stats) and operator actions (retry, cancel, delete, prune).

import Foundation
import PostgresNIO
import Spool

extension PostgresStorage {
    // MARK: Inspection

    /// The job with `id`, or nil. One indexed read.
    public func job(_ id: JobID) async throws -> JobRecord? {
        try await rows(HotSQL.Job.self, binds { $0.append(PostgresCoding.uuid(id)) }, "reading job \(id)").first.map(PostgresCoding.record)
    }

    /// Jobs passing `filter`, newest (highest id) first, at most `limit` (capped at a million),
    /// after the cursor. Cost: walks the id index (or, for only scheduled, dead and cancelled
    /// jobs, the state index) until `limit` matches.
    public func jobs(_ filter: JobFilter, after: JobID?, limit: Int) async throws -> JobPage {
        let limit = min(max(1, limit), 1_000_000)
        var clauses: [String] = []
        var bindings = PostgresBindings()
        if let states = filter.states {
            if states.isEmpty { return JobPage(jobs: [], nextCursor: nil) }
            bindings.append(states.map(\.rawValue).sorted())
            clauses.append("state = ANY($\(bindings.count)::text[])")
            // The partial state index's own predicate, so the planner can take it.
            if states.allSatisfy(PostgresSchema.stateIndexHolds) {
                clauses.append("state IN (\(PostgresSchema.stateIndexStates))")
            }
        }
        if let queue = filter.queue {
            bindings.append(queue)
            clauses.append("queue = $\(bindings.count)")
        }
        if let kind = filter.kind {
            bindings.append(kind)
            clauses.append("kind = $\(bindings.count)")
        }
        if let after {
            bindings.append(PostgresCoding.uuid(after))
            clauses.append("id < $\(bindings.count)")
        }
        bindings.append(Int64(limit + 1))
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let statement =
            "SELECT \(PostgresCoding.recordColumns(sql.prefix)) FROM \(sql.jobs) \(whereClause) ORDER BY id DESC LIMIT $\(bindings.count)"
        let rows = try await rows(statement, bindings, "listing jobs")
        let jobs = try rows.prefix(limit).map(PostgresCoding.record)
        return JobPage(jobs: jobs, nextCursor: rows.count > limit ? jobs.last?.id : nil)
    }

    /// Counts by queue and state. Cost: one scan of the state index.
    public func stats() async throws -> StorageStats {
        var stats = StorageStats()
        let counted: [PostgresRow]
        if configuration.preparedStatements {
            // The pool's sessions have sequential scans off (see `init`); counting wants one.
            counted = try await performing("counting jobs") {
                try await withTransaction { connection in
                    _ = try await connection.query(
                        "SELECT set_config('enable_seqscan', 'on', true), set_config('enable_bitmapscan', 'on', true)")
                    return try await connection.query(PostgresQuery(unsafeSQL: self.sql.stats))
                }
            }
        } else {
            counted = try await rows(sql.stats, PostgresBindings(), "counting jobs")
        }
        for row in counted {
            let (queue, state, count) = try row.decode((String, String, Int).self)
            stats.queues[queue, default: [:]][try PostgresCoding.state(state)] = count
        }
        return stats
    }

    // MARK: Operator actions

    /// Makes dead or cancelled jobs available again with a fresh budget of attempts (attempt 0,
    /// run-at `now`), in one statement. A job whose unique key another live job holds now is
    /// not retried.
    /// - Returns: the ids that were retried, in the order given.
    public func retry(_ ids: [JobID], now: Date) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let nowMicros = PostgresCoding.micros(now)
        var retried: [(JobID, String)] = []
        do {
            retried = try await retryRows(ids, nowMicros)
        } catch let error as SpoolError where error.message.contains("23505") {
            // Two of the batch share a unique key: retry one by one, the first one wins.
            for id in ids {
                do {
                    retried += try await retryRows([id], nowMicros)
                } catch let error as SpoolError where error.message.contains("23505") {
                    continue
                }
            }
        }
        if !retried.isEmpty { await announceWork(retried.map(\.1)) }
        let done = Set(retried.map(\.0))
        return ids.filter { done.contains($0) }
    }

    private func retryRows(_ ids: [JobID], _ nowMicros: Int64) async throws -> [(JobID, String)] {
        let rows = try await committedRows(
            sql.retry,
            binds {
                $0.append(ids.map(PostgresCoding.uuid))
                $0.append(nowMicros)
            }, "retry of \(ids.count) job(s)")
        return try rows.map { row in
            let (uuid, queue) = try row.decode((UUID, String).self)
            return (PostgresCoding.id(uuid), queue)
        }
    }

    /// Cancels jobs that have not finished, in one statement, recording a `cancelled` error.
    /// A running job's lease is void at once: its worker's outcome and heartbeats are refused.
    /// - Returns: the ids that were cancelled, in the order given.
    public func cancel(_ ids: [JobID], now: Date) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let rows = try await committedRows(
            sql.cancel,
            binds {
                $0.append(ids.map(PostgresCoding.uuid))
                $0.append(PostgresCoding.micros(now))
            }, "cancel of \(ids.count) job(s)")
        let done = Set(try rows.map { PostgresCoding.id(try $0.decode(UUID.self)) })
        if !done.isEmpty { workSignal.signal() }  // a running job's slot under a max-running limit is free
        finishWatch.notify(done)
        return ids.filter { done.contains($0) }
    }

    /// Deletes jobs in any state, in one transaction. A running job's worker loses its lease.
    /// An unfinished job of a batch, or one that others depend on, counts as cancelled for its
    /// batch and its dependents (an update before the delete).
    /// - Returns: the ids that existed and were deleted, in the order given.
    public func delete(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let uuids = ids.map(PostgresCoding.uuid)
        let nowMicros = PostgresCoding.micros(Date())
        let rows = try await performing("delete of \(ids.count) job(s)") {
            try await withTransaction { connection in
                _ = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: sql.cancelBeforeDelete,
                        binds: binds {
                            $0.append(uuids); $0.append(nowMicros)
                        }))
                return try await connection.query(PostgresQuery(unsafeSQL: sql.delete, binds: binds { $0.append(uuids) }))
            }
        }
        let done = Set(try rows.map { PostgresCoding.id(try $0.decode(UUID.self)) })
        if !done.isEmpty { workSignal.signal() }
        finishWatch.notify(done)
        return ids.filter { done.contains($0) }
    }

    /// Deletes at most `limit` finished jobs (succeeded, dead, cancelled) that finished before
    /// `before`, oldest first, in one statement. Cost: an index range over finished jobs.
    /// - Returns: how many were deleted.
    public func prune(finishedBefore before: Date, limit: Int) async throws -> Int {
        guard limit > 0 else { return 0 }
        let rows = try await committedRows(
            sql.prune,
            binds {
                $0.append(PostgresCoding.micros(before))
                $0.append(Int64(limit))
            }, "prune of finished jobs")
        return try rows.first?.decode(Int.self) ?? 0
    }
}
