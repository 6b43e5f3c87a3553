// SQLiteStorage: claim, promoting due jobs and taking available ones within the queues' limits.

import Foundation
import GRDB
import Spool

extension SQLiteStorage {
    // MARK: Claim

    /// Makes due scheduled jobs available (all queues): an index range over `spool_jobs_due`,
    /// touching only the jobs that became due.
    private static let promoteSQL = """
        UPDATE spool_jobs INDEXED BY spool_jobs_due SET state = 'available' WHERE state = 'scheduled' AND run_at <= ?
        """

    /// Claims up to `?5` available jobs of queue `?4`, in claim order, through `spool_jobs_claim`.
    private static let claimSQL = """
        UPDATE spool_jobs
        SET state = 'running', attempt = attempt + 1, attempted_at = ?1, lease_owner = ?2, lease_expires_at = ?3
        WHERE rowid IN (
            SELECT rowid FROM spool_jobs INDEXED BY spool_jobs_claim WHERE state = 'available' AND queue = ?4
            ORDER BY priority DESC, run_at, id LIMIT ?5
        )
        RETURNING \(SQLiteCoding.claimedColumns)
        """

    /// Claims due jobs in one transaction: promotes due scheduled jobs, then for each demand of
    /// a queue that is not paused takes its available jobs by priority (highest first), run-at,
    /// then id, within the demand's and the request's limits, and moves them to `running` with
    /// a lease owned by `request.worker` until `now + request.lease`.
    ///
    /// Two claims never return the same job, whichever processes make them. Cost: one write
    /// transaction that does not wait for the disk (a claim lost in a power cut puts the job
    /// back in line: see `write(_:synced:_:)`); index reads proportional to the jobs returned
    /// (plus the jobs that became due).
    public func claim(_ request: ClaimRequest, now: Date) async throws -> [ClaimedJob] {
        guard request.limit > 0, request.demands.contains(where: { $0.limit > 0 }) else { return [] }
        let nowMicros = SQLiteCoding.micros(now)
        return try await write("claim for worker '\(request.worker)'", synced: false) { db in
            try Self.claim(request, now: nowMicros, db)
        }
    }

    /// The claim's work inside a write transaction (see ``claim(_:now:)``); also run by an enqueue
    /// for a waiting worker of this process.
    static func claim(_ request: ClaimRequest, now nowMicros: Int64, _ db: Database) throws -> [ClaimedJob] {
        let demands = request.demands.filter { $0.limit > 0 }
        guard request.limit > 0, !demands.isEmpty else { return [] }
        let expiry = SQLiteCoding.expiry(from: nowMicros, lease: request.lease)
        let worker = request.worker
        let total = request.limit
        try db.cachedStatement(sql: Self.promoteSQL).execute(arguments: [nowMicros])
        let settings = try Self.queueSettings(db)
        let statement = try db.cachedStatement(sql: Self.claimSQL)
        var claimed: [ClaimedJob] = []
        for demand in demands where claimed.count < total && !settings.paused.contains(demand.queue) {
            var limit = min(demand.limit, total - claimed.count)
            let limits = settings.limits[demand.queue]
            if let limits {
                limit = min(limit, try Self.allowance(limits, queue: demand.queue, now: nowMicros, db).jobs)
                if limit == 0 { continue }
            }
            let rows = try Row.fetchCursor(statement, arguments: [nowMicros, worker, expiry, demand.queue, limit])
            var batch: [ClaimedJob] = []
            batch.reserveCapacity(limit)
            let columns = RawColumns(statement: statement.sqliteStatement)
            while try rows.next() != nil {
                batch.append(try SQLiteCoding.claimed(columns))
            }
            // RETURNING gives rows in no particular order: put them in claim order.
            claimed += batch.sorted(by: Self.claimOrder)
            if limits?.rate != nil, !batch.isEmpty {
                try db.cachedStatement(sql: Self.recordStartsSQL).execute(arguments: [demand.queue, nowMicros, batch.count])
            }
        }
        return claimed
    }

    /// Paused queues and queue limits: the whole (small) `spool_queues` table.
    private static let queueSettingsSQL = "SELECT name, paused, max_running, rate_limit, rate_period_us FROM spool_queues"
    private static let runningInQueueSQL = """
        SELECT COUNT(*) FROM spool_jobs INDEXED BY spool_jobs_lease WHERE state = 'running' AND queue = ?
        """
    private static let dropOldStartsSQL = "DELETE FROM spool_queue_starts WHERE queue = ? AND at <= ?"
    private static let startsSQL = "SELECT at, count FROM spool_queue_starts WHERE queue = ? ORDER BY at"
    private static let recordStartsSQL = "INSERT INTO spool_queue_starts (queue, at, count) VALUES (?, ?, ?)"

    struct QueueSettings {
        var paused: Set<String> = []
        var limits: [String: QueueLimits] = [:]
    }

    static func queueSettings(_ db: Database) throws -> QueueSettings {
        var settings = QueueSettings()
        for row in try Row.fetchAll(db.cachedStatement(sql: Self.queueSettingsSQL)) {
            let name: String = try row.decode(atIndex: 0)
            if try row.decode(atIndex: 1) as Bool { settings.paused.insert(name) }
            let maxRunning: Int64? = try row.decode(atIndex: 2)
            let rateLimit: Int64? = try row.decode(atIndex: 3)
            let periodMicros: Int64? = try row.decode(atIndex: 4)
            let limits = QueueLimits.stored(maxRunning: maxRunning, rateCount: rateLimit, period: periodMicros.map { .microseconds($0) })
            if !limits.isNone { settings.limits[name] = limits }
        }
        return settings
    }

    /// What `limits` allow a claim in `queue` at `now`: counts the queue's running jobs (an
    /// index range) and its starts in the rate window (dropping older ones when `writing`).
    static func allowance(_ limits: QueueLimits, queue: String, now: Int64, _ db: Database, writing: Bool = true) throws -> QueueAllowance {
        let running =
            limits.maxRunning == nil ? 0 : try Int.fetchOne(db.cachedStatement(sql: Self.runningInQueueSQL), arguments: [queue]) ?? 0
        var starts: [(at: Date, count: Int)] = []
        if let rate = limits.rate {
            let windowStart = now - SQLiteCoding.micros(rate.period)
            if writing { try db.cachedStatement(sql: Self.dropOldStartsSQL).execute(arguments: [queue, windowStart]) }
            for row in try Row.fetchAll(db.cachedStatement(sql: Self.startsSQL), arguments: [queue]) {
                let at: Int64 = try row.decode(atIndex: 0)
                if at > windowStart { starts.append((SQLiteCoding.date(micros: at), try row.decode(atIndex: 1))) }
            }
        }
        return QueueAllowance(limits: limits, running: running, startsInWindow: starts)
    }

    private static func claimOrder(_ lhs: ClaimedJob, _ rhs: ClaimedJob) -> Bool {
        if lhs.priority != rhs.priority { return lhs.priority > rhs.priority }
        if lhs.runAt != rhs.runAt { return lhs.runAt < rhs.runAt }
        return lhs.id < rhs.id
    }
}
