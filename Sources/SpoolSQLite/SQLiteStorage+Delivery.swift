// SQLiteStorage: handing an enqueue's jobs to a worker of this process that waits for work.

import Foundation
import GRDB
import Spool
import Synchronization

/// The jobs one enqueue claims for this process's waiting workers, delivered once its
/// transaction ends.
final class HandOff: Sendable {
    private struct Claims {
        /// Every waiter taken, with the jobs claimed for it so far.
        var delivering: [(waiter: ClaimWaiters.Waiter, jobs: [ClaimedJob])] = []
        var stored = false
    }

    private let claims = Mutex(Claims())
    private let waiters: ClaimWaiters

    init(_ waiters: ClaimWaiters) {
        self.waiters = waiters
    }

    /// In the enqueue's transaction, before its inserts: takes the waiters for the jobs of
    /// `rows` that are due now. Each one taken gets a delivery when the transaction ends.
    func take(for rows: [SQLiteStorage.InsertRow]) -> [ClaimWaiters.Waiter] {
        var available: [String: Int] = [:]
        for row in rows where row.state == .available { available[row.queue, default: 0] += 1 }
        let taken = waiters.take(for: available)
        if !taken.isEmpty { claims.withLock { $0.delivering = taken.map { ($0, []) } } }
        return taken
    }

    /// In the enqueue's transaction, after its inserts: the jobs inserted under a waiter's
    /// lease become its delivery. A taken waiter that got none of them claims in the
    /// transaction instead (a job of the enqueue that could not go to it directly, such as one
    /// with a unique key, may be due now), in a savepoint, so that a failed claim costs that
    /// waiter its delivery and nothing else. `stored`: the enqueue stored a job (rather than
    /// finding every one's unique key held).
    func complete(
        _ rows: [SQLiteStorage.InsertRow], leases: [Int: SQLiteStorage.Lease], stored: Bool, now: Int64, _ db: Database
    ) {
        var delivering = claims.withLock { $0.delivering }
        for index in leases.keys.sorted() {
            guard let lease = leases[index], let slot = delivering.firstIndex(where: { $0.waiter.id == lease.waiter }) else { continue }
            delivering[slot].jobs.append(SQLiteStorage.claimed(rows[index], lease))
        }
        for slot in delivering.indices where delivering[slot].jobs.isEmpty {
            do {
                try db.inSavepoint {
                    delivering[slot].jobs = try SQLiteStorage.claim(delivering[slot].waiter.request, now: now, db)
                    return .commit
                }
            } catch {
                delivering[slot].jobs = []
            }
        }
        claims.withLock {
            $0.delivering = delivering
            $0.stored = stored
        }
    }

    /// After the transaction: delivers the claimed jobs when it committed, none when it rolled
    /// back. Returns whether waiters should be woken: the enqueue committed and stored a job, or
    /// a waiter was taken (it must wake to take its delivery, or to wait again).
    func settle(committed: Bool) -> Bool {
        let claims = claims.withLock { $0 }
        for (waiter, jobs) in claims.delivering {
            waiters.deliver(committed ? jobs : [], to: waiter.id)
        }
        return (committed && claims.stored) || !claims.delivering.isEmpty
    }
}

extension SQLiteStorage {
    /// A new job's lease when it goes straight to a waiting worker.
    struct Lease: Sendable {
        let waiter: UInt64
        let worker: String
        let attemptedAt: Int64
        let expiresAt: Int64
    }

    /// Whether queue `?1` holds a job a claim at `?2` would take before a new one: an available
    /// job, or a scheduled one that is due. Two index probes.
    private static let claimableSQL = """
        SELECT EXISTS (SELECT 1 FROM spool_jobs INDEXED BY spool_jobs_claim WHERE state = 'available' AND queue = ?1)
            OR EXISTS (SELECT 1 FROM spool_jobs INDEXED BY spool_jobs_due WHERE state = 'scheduled' AND run_at <= ?2 AND queue = ?1)
        """

    /// Which of `rows` go straight to `waiters`, by index: jobs due now, without a unique key,
    /// in a queue that is not paused, has no ``QueueLimits``, and holds no job a claim would
    /// take first, up to each waiter's free slots in the queue, in claim order (priority, run-at,
    /// id). Exactly what a claim by those waiters right after the insert would return.
    static func leases(for rows: [InsertRow], to waiters: [ClaimWaiters.Waiter], now: Int64, _ db: Database) throws -> [Int: Lease] {
        var byQueue: [String: [Int]] = [:]
        var order: [String] = []
        for (index, row) in rows.enumerated() where row.state == .available && row.uniqueKey == nil {
            if byQueue[row.queue] == nil { order.append(row.queue) }
            byQueue[row.queue, default: []].append(index)
        }
        guard !byQueue.isEmpty else { return [:] }
        let settings = try queueSettings(db)
        var room = waiters.map { waiter in
            (waiter: waiter, total: waiter.request.limit, queues: Dictionary(waiter.request.demands.map { ($0.queue, $0.limit) }) { $1 })
        }
        var leases: [Int: Lease] = [:]
        for queue in order where !settings.paused.contains(queue) && settings.limits[queue] == nil {
            guard let indexes = byQueue[queue],
                try Bool.fetchOne(db.cachedStatement(sql: claimableSQL), arguments: [queue, now]) == false
            else { continue }
            let sorted = indexes.sorted { lhs, rhs in
                let (a, b) = (rows[lhs], rows[rhs])
                if a.priority != b.priority { return a.priority > b.priority }
                if a.runAt != b.runAt { return a.runAt < b.runAt }
                return a.id < b.id
            }
            var next = 0
            for slot in room.indices where next < sorted.count {
                let count = min(room[slot].total, room[slot].queues[queue] ?? 0, sorted.count - next)
                guard count > 0 else { continue }
                let waiter = room[slot].waiter
                let lease = Lease(
                    waiter: waiter.id, worker: waiter.request.worker, attemptedAt: now,
                    expiresAt: SQLiteCoding.expiry(from: now, lease: waiter.request.lease))
                for index in sorted[next..<(next + count)] { leases[index] = lease }
                next += count
                room[slot].total -= count
                room[slot].queues[queue] = (room[slot].queues[queue] ?? 0) - count
            }
        }
        return leases
    }

    /// The job `row` becomes when inserted under `lease`, as a claim would return it.
    static func claimed(_ row: InsertRow, _ lease: Lease) -> ClaimedJob {
        ClaimedJob(
            id: row.id, queue: row.queue, kind: row.kind, payload: JobPayload(bytes: row.payload), priority: row.priority,
            attempt: 1, maxAttempts: row.maxAttempts, createdAt: SQLiteCoding.date(micros: row.createdAt),
            runAt: SQLiteCoding.date(micros: row.runAt), timeout: row.timeout.map { SQLiteCoding.duration(micros: $0) },
            metadata: row.metadataValues
        )
    }
}

/// This process's enqueues claim their jobs for a waiting worker in their own transaction.
extension SQLiteStorage: ClaimDelivering {}
