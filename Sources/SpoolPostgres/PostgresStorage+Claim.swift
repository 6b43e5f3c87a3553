// PostgresStorage: claim, in one round trip or, for queues with limits, in a transaction that honours them.

import Foundation
import PostgresNIO
import Spool
import Synchronization

extension PostgresStorage {
    // MARK: Claim

    /// Claims due jobs in one statement: for each demand of a queue that is not paused (demands
    /// of the same queue are merged), its available jobs and its scheduled jobs whose run-at has
    /// come, by priority (highest first), run-at, then id, within the demand's and the
    /// request's limits, locked with `FOR UPDATE SKIP LOCKED` and moved to `running` with a
    /// lease owned by `request.worker` until `now + request.lease`.
    ///
    /// Two claims never return the same job; concurrent claimers skip each other's rows instead
    /// of waiting. Cost: one index range scan per demanded queue, reading about the rows it
    /// returns. A queue with ``QueueLimits`` costs more: its row in the queues table is locked
    /// for the claim (claims of that queue take turns), and two more statements count its
    /// running jobs and recent starts and record the new ones.
    public func claim(_ request: ClaimRequest, now: Date) async throws -> [ClaimedJob] {
        let total = request.limit
        guard total > 0 else { return [] }
        var queues: [String] = []
        var limits: [Int64] = []
        for demand in request.demands where demand.limit > 0 {
            if let index = queues.firstIndex(of: demand.queue) {
                limits[index] = min(Int64(total), limits[index] + Int64(demand.limit))
            } else {
                queues.append(demand.queue)
                limits.append(Int64(min(demand.limit, total)))
            }
        }
        guard !queues.isEmpty else { return [] }
        let nowMicros = PostgresCoding.micros(now)
        let expiry = PostgresCoding.expiry(from: nowMicros, lease: request.lease)
        let rows: [[PostgresCell]]
        // Taken before the claim reads: a job it cannot see commits later and signals later.
        let ticket = workSignal.ticket()
        var seen: (nextDue: Int64?, due: Int64)?
        if configuration.preparedStatements,
            let fast = try await fastClaimRows(
                queues: queues, limits: limits, now: nowMicros, total: Int64(total), worker: request.worker, expiry: expiry)
        {
            rows = fast.rows
            seen = (fast.nextDue, fast.due)
        } else {
            rows = try await claimRows(
                queues: queues, limits: limits, now: nowMicros, total: Int64(total), worker: request.worker, expiry: expiry)
        }
        // For the wait that may follow (see `waitForWork`): whether this claim took every due
        // job of `queues` it could see (none was locked by another transaction or left over a
        // limit), which only the one-statement claim knows.
        var exhaustive: ExhaustiveClaim?
        if let seen, rows.count < total, Int64(rows.count) == seen.due {
            exhaustive = ExhaustiveClaim(ticket: ticket, nextDue: seen.nextDue.map(PostgresCoding.date(micros:)))
        }
        exhaustiveClaims.record(queues, exhaustive)
        var claimed: [(order: Int64, job: ClaimedJob)] = []
        claimed.reserveCapacity(rows.count)
        for cells in rows {
            claimed.append((try cells[12].decode(Int64.self), try PostgresCoding.claimed(cells)))
        }
        // RETURNING gives rows in no particular order: put them in claim order.
        claimed.sort { lhs, rhs in
            if lhs.order != rhs.order { return lhs.order < rhs.order }
            if lhs.job.priority != rhs.job.priority { return lhs.job.priority > rhs.job.priority }
            if lhs.job.runAt != rhs.job.runAt { return lhs.job.runAt < rhs.job.runAt }
            return lhs.job.id < rhs.job.id
        }
        return claimed.map(\.job)
    }

    /// The claim of queues with limits, or of any queue with prepared statements off (else
    /// ``fastClaimRows`` takes one round trip). Runs in a transaction that first sets, for that
    /// transaction only (`SET LOCAL`, so the pooled connection is unchanged afterwards, and
    /// safe behind a transaction-mode pooler):
    /// - no bitmap and no sequential scans. A job table turns over completely between two runs
    ///   of autovacuum's ANALYZE, so the planner's statistics are nearly always wrong. With a
    ///   fresh or stale estimate of "one matching row" it picks a bitmap scan of every waiting
    ///   job plus a sort (measured: 100 ms and a 4.7 MB on-disk sort per claim with 100,000 jobs
    ///   waiting), instead of reading the claim index in order and stopping after `limit` rows
    ///   (0.3 ms).
    /// - `synchronous_commit = off`: the claim does not wait for its WAL flush. A claim lost in
    ///   a database crash only puts the job back in line: the worker's outcome then fails the
    ///   lease check and the job runs again, as after any lost lease (at least once, as always).
    ///   Enqueues and outcomes keep waiting for the flush.
    ///
    /// Cost: two extra round trips, far less than the flush saved.
    private func claimRows(
        queues: [String], limits: [Int64], now: Int64, total: Int64, worker: String, expiry: Int64
    ) async throws -> [[PostgresCell]] {
        let (rows, locked) = try await performing("claim for worker '\(worker)'") {
            try await withTransaction { connection -> ([PostgresRow], [String]) in
                let settings = try await self.run(HotSQL.ClaimLocks.self, binds { $0.append(queues) }, on: connection)
                let locked = try settings.first?.decode((String, String, String, [String]).self).3 ?? []
                var limits = limits
                var rateLimited: [String] = []
                if !locked.isEmpty {
                    let counted = try await self.run(
                        HotSQL.LimitedQueues.self,
                        binds {
                            $0.append(locked); $0.append(now)
                        }, on: connection)
                    for row in counted {
                        let (name, queueLimits, allowance) = try PostgresCoding.allowance(row)
                        if let index = queues.firstIndex(of: name) { limits[index] = min(limits[index], Int64(allowance.jobs)) }
                        if queueLimits.rate != nil { rateLimited.append(name) }
                    }
                }
                var bindings = Self.claimBindings(queues: queues, limits: limits, now: now, total: total, worker: worker, expiry: expiry)
                bindings.append(locked)
                let claimed = try await self.run(HotSQL.Claim.self, bindings, on: connection)
                if !rateLimited.isEmpty {
                    var started = [Int32](repeating: 0, count: rateLimited.count)
                    for row in claimed {
                        let order = try row.makeRandomAccess()[12].decode(Int64.self)
                        if let index = rateLimited.firstIndex(of: queues[Int(order) - 1]) { started[index] += 1 }
                    }
                    _ = try await self.run(
                        HotSQL.RecordStarts.self,
                        binds {
                            $0.append(now)
                            $0.append(rateLimited)
                            $0.append(started)
                        }, on: connection)
                }
                return (claimed, locked)
            }
        }
        limitedQueues.withLock { known in
            known.subtract(queues)
            known.formUnion(locked)
        }
        return rows.map { Array($0) }
    }

    /// $1–$6 of both claim statements.
    private static func claimBindings(
        queues: [String], limits: [Int64], now: Int64, total: Int64, worker: String, expiry: Int64
    ) -> PostgresBindings {
        binds {
            $0.append(queues)
            $0.append(limits)
            $0.append(now)
            $0.append(total)
            $0.append(worker)
            $0.append(expiry)
        }
    }

    /// The claimed rows, the earliest run-at of a scheduled job after `now` and the count of
    /// due jobs the statement saw (see ``PostgresStatements/fastClaim``), in one round trip
    /// (prepared statements only), or nil when a demanded queue has limits: then nothing was
    /// claimed and ``claimRows`` must do it.
    private func fastClaimRows(
        queues: [String], limits: [Int64], now: Int64, total: Int64, worker: String, expiry: Int64
    ) async throws -> (rows: [[PostgresCell]], nextDue: Int64?, due: Int64)? {
        let bindings = Self.claimBindings(queues: queues, limits: limits, now: now, total: total, worker: worker, expiry: expiry)
        let rows = try await committedCells(HotSQL.FastClaim.self, bindings, "claim for worker '\(worker)'")
        guard let first = rows.first else { return ([], nil, .max) }
        if try first[13].decode(Bool.self) { return nil }
        let (nextDue, due) = (try first[14].decode(Int64?.self), try first[15].decode(Int64.self))
        limitedQueues.withLock { known in known.subtract(queues) }
        // Nothing claimed: the one row is all NULL but the last columns.
        return (first[0].bytes == nil ? [] : rows, nextDue, due)
    }
}
