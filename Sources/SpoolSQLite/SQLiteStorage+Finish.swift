// SQLiteStorage: how runs end (outcomes), heartbeats, and the rescue of expired leases.

import Foundation
import GRDB
import Spool

extension SQLiteStorage {
    // MARK: Finish

    /// One outcome's column values, prepared before the transaction.
    private struct FinishRow: Sendable {
        enum AddedError: Sendable {
            case given(JobAttemptError)
            /// A cancelled run: recorded with the job's current attempt.
            case cancelled(reason: String, at: Date)
        }

        let id: JobID
        let state: JobState
        let attemptDelta: Int
        let runAt: Int64?
        let finishedAt: Int64?
        let result: [UInt8]?
        let error: AddedError?

        /// An empty result: GRDB binds empty bytes as NULL, so it is written as `x''`.
        var hasEmptyResult: Bool { result?.isEmpty == true }

        /// A success: the kind of outcome ``succeededSQL`` writes, many per statement.
        var isSuccess: Bool { state == .succeeded && error == nil && attemptDelta == 0 && runAt == nil }
    }

    private static let finishSQL = """
        UPDATE spool_jobs
        SET state = ?1, attempt = attempt + ?2, run_at = COALESCE(?3, run_at), finished_at = ?4,
            result = CASE WHEN ?9 THEN x'' ELSE COALESCE(?5, result) END, errors = COALESCE(?6, errors),
            lease_owner = NULL, lease_expires_at = NULL, expired_leases = 0
        WHERE id = ?7 AND state = 'running' AND lease_owner = ?8
        """

    /// The successes one ``succeededSQL`` statement writes (4 parameters each).
    static let finishChunkSize = 128

    /// Writes up to ``finishChunkSize`` successes at once, each only if the job is `running`
    /// with its lease held by the last parameter. The same columns as
    /// ``finishSQL`` with a success; each row of `v` is (id, finished_at, result, result is
    /// empty). Unused rows have a NULL id, which matches no job: one statement (and one
    /// materialized `v`) serves every batch size.
    private static let succeededSQL = """
        UPDATE spool_jobs
        SET state = 'succeeded', finished_at = v.column2,
            result = CASE WHEN v.column4 THEN x'' ELSE COALESCE(v.column3, result) END,
            lease_owner = NULL, lease_expires_at = NULL, expired_leases = 0
        FROM (VALUES \(Array(repeating: "(?, ?, ?, ?)", count: finishChunkSize).joined(separator: ", "))) AS v
        WHERE spool_jobs.id = v.column1 AND spool_jobs.state = 'running' AND spool_jobs.lease_owner = ?
        """

    private static let leaseHeldSQL = """
        SELECT attempt, errors FROM spool_jobs WHERE id = ? AND state = 'running' AND lease_owner = ?
        """

    private static let anyMaxRunningSQL = "SELECT EXISTS (SELECT 1 FROM spool_queues WHERE max_running IS NOT NULL)"

    /// Records how runs ended, in one transaction. Each outcome is written only if the job is
    /// `running` with its lease held by `worker`; the others (rescued, cancelled, deleted, or
    /// claimed by another worker since) are returned and nothing is written for them.
    ///
    /// Snooze and hand-back give the attempt back; every outcome clears the lease and resets
    /// the count of expired leases; failures append to the error history (newest
    /// ``JobAttemptError/historyLimit`` kept). Cost: one transaction; successes are written up
    /// to 64 per statement, other outcomes a statement each.
    public func finish(_ completions: [JobCompletion], worker: String) async throws -> LeaseReport {
        guard !completions.isEmpty else { return LeaseReport() }
        let rows: [FinishRow] = try completions.map { completion in
            let next = try JobStateMachine.transition(.running, on: completion.event, job: completion.id)
            let at = SQLiteCoding.micros(completion.at)
            let finishedAt = next.isFinished ? at : nil
            switch completion.outcome {
            case .succeeded(let result):
                return FinishRow(
                    id: completion.id, state: next, attemptDelta: 0, runAt: nil, finishedAt: finishedAt, result: result, error: nil)
            case .retry(let runAt, let error):
                return FinishRow(
                    id: completion.id, state: next, attemptDelta: 0, runAt: SQLiteCoding.micros(runAt), finishedAt: finishedAt, result: nil,
                    error: .given(error))
            case .snooze(let until):
                return FinishRow(
                    id: completion.id, state: next, attemptDelta: -1, runAt: SQLiteCoding.micros(until), finishedAt: finishedAt,
                    result: nil, error: nil)
            case .dead(let error):
                return FinishRow(
                    id: completion.id, state: next, attemptDelta: 0, runAt: nil, finishedAt: finishedAt, result: nil, error: .given(error))
            case .cancelled(let reason):
                return FinishRow(
                    id: completion.id, state: next, attemptDelta: 0, runAt: nil, finishedAt: finishedAt, result: nil,
                    error: .cancelled(reason: reason, at: completion.at))
            case .handBack:
                return FinishRow(
                    id: completion.id, state: next, attemptDelta: -1, runAt: nil, finishedAt: finishedAt, result: nil, error: nil)
            }
        }
        // Successes go many per statement, unless an id comes twice (then each outcome is
        // written in turn, the later ones finding the job no longer running, as one by one).
        let successes = rows.filter(\.isSuccess)
        let batched = successes.count > 1 && Set(rows.map(\.id)).count == rows.count
        let (lost, written, limited, settled) = try await write(
            "finish of \(completions.count) job(s) by worker '\(worker)'", synced: configuration.syncsOutcomes
        ) { db in
            var lost: [JobID] = []
            var written: [(JobID, JobState)] = []
            if batched {
                var start = 0
                while start < successes.count {
                    let end = min(successes.count, start + Self.finishChunkSize)
                    let chunkLost = try Self.writeSuccesses(successes[start..<end], worker: worker, db)
                    lost += chunkLost
                    for row in successes[start..<end] where !chunkLost.contains(row.id) {
                        written.append((row.id, row.state))
                    }
                    start = end
                }
            }
            for row in rows where !(batched && row.isSuccess) {
                if try Self.writeOne(row, worker: worker, db) {
                    written.append((row.id, row.state))
                } else {
                    lost.append(row.id)
                }
            }
            let limited = try Bool.fetchOne(db.cachedStatement(sql: Self.anyMaxRunningSQL)) ?? false
            return (lost, written, limited, try Self.settleDependents(db))
        }
        // A finished run frees a slot of a queue's max-running limit: wake local waiters.
        if limited || settled.released || written.contains(where: { $0.1 == .available || $0.1 == .scheduled }) {
            workSignal.signal()
        }
        finishWatch.notify(written.filter { $0.1.isFinished }.map(\.0) + settled.cancelled)
        batchWatch.notify(settled.finishedBatches)
        return LeaseReport(lost: lost)
    }

    /// Writes up to ``finishChunkSize`` successes (distinct ids) in one statement; returns the
    /// ids whose lease `worker` no longer holds.
    ///
    /// The statement runs in a savepoint: when it changed fewer jobs than it was given (a lease
    /// was lost: rare), it is undone and the outcomes are written one by one, which tells
    /// which. (No RETURNING: it would buffer the rows in a temporary table on every call.)
    private static func writeSuccesses(_ rows: ArraySlice<FinishRow>, worker: String, _ db: Database) throws -> [JobID] {
        var allWritten = false
        try db.inSavepoint {
            let statement = try db.cachedStatement(sql: succeededSQL)
            var binder = statement.rawBinder(db)
            for row in rows {
                try binder.bind(row.id)
                try binder.bind(row.finishedAt)
                try binder.bindBlobOrNull(row.result)
                try binder.bind(row.hasEmptyResult)
            }
            for _ in rows.count..<finishChunkSize {
                try binder.bindNull()
                try binder.bindNull()
                try binder.bindNull()
                try binder.bind(false)
            }
            try binder.bind(worker)
            try statement.execute()
            allWritten = db.changesCount == rows.count
            return allWritten ? .commit : .rollback
        }
        if allWritten { return [] }
        var lost: [JobID] = []
        for row in rows where try !writeOne(row, worker: worker, db) {
            lost.append(row.id)
        }
        return lost
    }

    /// Writes one outcome; returns false when `worker` no longer holds the job's lease.
    private static func writeOne(_ row: FinishRow, worker: String, _ db: Database) throws -> Bool {
        var errors: String?
        if let added = row.error {
            guard let held = try Row.fetchOne(db.cachedStatement(sql: Self.leaseHeldSQL), arguments: [SQLiteCoding.blob(row.id), worker])
            else {
                return false
            }
            let error: JobAttemptError
            switch added {
            case .given(let given):
                error = given
            case .cancelled(let reason, let at):
                let attempt = try StoredColumns(row: held, id: row.id).integer(0, "attempt")
                error = JobAttemptError(attempt: StoredValue.attempt(attempt), at: at, message: reason, reason: "cancelled")
            }
            errors = try SQLiteCoding.appending([error], to: StoredColumns(row: held, id: row.id).optionalText(1, "errors"))
        }
        let update = try db.cachedStatement(sql: Self.finishSQL)
        var binder = update.rawBinder(db)
        try binder.bind(row.state.rawValue)
        try binder.bind(row.attemptDelta)
        try binder.bind(row.runAt)
        try binder.bind(row.finishedAt)
        try binder.bindBlobOrNull(row.result)
        try binder.bind(errors)
        try binder.bind(row.id)
        try binder.bind(worker)
        try binder.bind(row.hasEmptyResult)
        try update.execute()
        return db.changesCount > 0
    }

    // MARK: Heartbeat and rescue

    private static let heartbeatSQL = """
        UPDATE spool_jobs SET lease_expires_at = ?1, progress = COALESCE(?2, progress)
        WHERE id = ?3 AND state = 'running' AND lease_owner = ?4
        """

    /// Extends the leases `worker` holds to `now + lease` and stores reported progress, in one
    /// transaction.
    /// - Returns: the ids whose lease `worker` no longer holds (the worker should stop them).
    public func heartbeat(_ beats: [JobHeartbeat], worker: String, lease: Duration, now: Date) async throws -> LeaseReport {
        guard !beats.isEmpty else { return LeaseReport() }
        let expiry = SQLiteCoding.micros(now) + SQLiteCoding.micros(lease)
        let rows: [(JobID, String?)] = try beats.map { ($0.id, try SQLiteCoding.encodeProgress($0.progress)) }
        return try await write("heartbeat of \(beats.count) job(s) by worker '\(worker)'", synced: false) { db in
            let update = try db.cachedStatement(sql: Self.heartbeatSQL)
            var lost: [JobID] = []
            for (id, progress) in rows {
                try update.execute(arguments: [expiry, progress, SQLiteCoding.blob(id), worker])
                if db.changesCount == 0 { lost.append(id) }
            }
            return LeaseReport(lost: lost)
        }
    }

    private static let expiredSQL = """
        SELECT id, attempt, lease_owner, expired_leases, errors FROM spool_jobs INDEXED BY spool_jobs_lease
        WHERE state = 'running' AND lease_expires_at < ? ORDER BY id
        """

    private static let rescueSQL = """
        UPDATE spool_jobs
        SET state = ?1, expired_leases = ?2, errors = ?3, finished_at = ?4, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ?5
        """

    /// Returns running jobs whose lease expired before `now` to `available`, keeping the
    /// attempt (the crashed run counted) and recording a `lease_expired` error; a job whose
    /// lease has now expired more than `poisonAfter` times in a row goes to `dead` with a
    /// `poison` error instead. One transaction; reads only the expired leases (an index orders
    /// running jobs by lease expiry). Safe to run from several processes at once.
    public func rescueExpired(now: Date, poisonAfter: Int) async throws -> RescueReport {
        let nowMicros = SQLiteCoding.micros(now)
        let available = try JobStateMachine.transition(.running, on: .rescue)
        let dead = try JobStateMachine.transition(.running, on: .die)
        let (report, settled) = try await write("rescue of expired leases") { db in
            var report = RescueReport()
            let expired = try Row.fetchAll(db.cachedStatement(sql: Self.expiredSQL), arguments: [nowMicros])
            let update = try db.cachedStatement(sql: Self.rescueSQL)
            for row in expired {
                let blob: Data = try row.decode(atIndex: 0)
                let id = try SQLiteCoding.id(blob)
                let columns = StoredColumns(row: row, id: id)
                let attempt = StoredValue.attempt(try columns.integer(1, "attempt"))
                let owner = try columns.optionalText(2, "lease_owner")
                // Clamped, so that a corrupt count cannot overflow here.
                let count = StoredValue.count(try columns.optionalInteger(3, "expired_leases") ?? 0) + 1
                var added = [
                    JobAttemptError(
                        attempt: attempt, at: now,
                        message: "the lease of worker '\(owner ?? "?")' expired (worker crashed or hung)", reason: "lease_expired"
                    )
                ]
                let poisoned = count > poisonAfter
                if poisoned {
                    added.append(
                        JobAttemptError(
                            attempt: attempt, at: now, message: "poison job: its lease expired \(count) times in a row", reason: "poison"
                        ))
                }
                let errors = try SQLiteCoding.appending(added, to: columns.optionalText(4, "errors"))
                let state = poisoned ? dead : available
                try update.execute(arguments: [state.rawValue, count, errors, poisoned ? nowMicros : nil, blob])
                if poisoned { report.poisoned.append(id) } else { report.rescued.append(id) }
            }
            return (report, try Self.settleDependents(db))
        }
        if !report.rescued.isEmpty || settled.released { workSignal.signal() }
        finishWatch.notify(report.poisoned + settled.cancelled)
        batchWatch.notify(settled.finishedBatches)
        return report
    }
}
