// SQLiteStorage: waiting for claimable work and for a job to finish.

import Foundation
import GRDB
import Logging
import Spool

extension SQLiteStorage {
    // MARK: Waiting

    /// Whether one of the queues `?1` (a JSON array) that is not paused has an available job or
    /// a scheduled job due at `?2`, and the next run-at after `?2` (any queue). Index probes
    /// only: the claim index per queue, the due index for the rest.
    private static let readySQL = """
        SELECT
            EXISTS (
                SELECT 1 FROM spool_jobs
                WHERE state = 'available' AND queue IN (SELECT value FROM json_each(?1))
                  AND queue NOT IN (SELECT name FROM spool_queues WHERE paused <> 0)
            ),
            EXISTS (
                SELECT 1 FROM spool_jobs INDEXED BY spool_jobs_due
                WHERE state = 'scheduled' AND run_at <= ?2 AND queue IN (SELECT value FROM json_each(?1))
                  AND queue NOT IN (SELECT name FROM spool_queues WHERE paused <> 0)
            ),
            (SELECT MIN(run_at) FROM spool_jobs INDEXED BY spool_jobs_due WHERE state = 'scheduled' AND run_at > ?2)
        """

    /// Suspends until a job may be claimable in one of `queues`, `deadline` passes, or the task
    /// is cancelled.
    ///
    /// Returns at once when one of `queues` (not paused, not at a limit) has an available job
    /// or a due scheduled one; otherwise sleeps on `clock` until the earliest of `deadline`, the next
    /// scheduled run-at, and ``Configuration/pollInterval`` from now, or until this process
    /// enqueues, retries, hands back, rescues or resumes something. Jobs enqueued by other
    /// processes are noticed at the next poll. Cost: one read of a few index entries per call.
    public func waitForWork(queues: [String], deadline: Date, clock: any JobClock) async {
        await waitForWork(queues: queues, deadline: deadline, clock: clock, ticket: workSignal.ticket())
    }

    /// ``waitForWork(queues:deadline:clock:)`` from a ticket of the work signal taken earlier.
    package func waitForWork(queues: [String], deadline: Date, clock: any JobClock, ticket: UInt64) async {
        let now = clock.now
        let nowMicros = SQLiteCoding.micros(now)
        var until = min(deadline, now.adding(configuration.pollInterval))
        do {
            let (ready, nextDue, reopens) = try await read("checking for work") { db -> (Bool, Int64?, Date?) in
                // A queue at one of its limits has no work until the limit reopens.
                let limits = try Self.queueSettings(db).limits
                var open: [String] = []
                var reopens: Date? = nil
                for queue in queues {
                    if let limited = limits[queue] {
                        let allowance = try Self.allowance(limited, queue: queue, now: nowMicros, db, writing: false)
                        if allowance.jobs == 0 {
                            if let at = allowance.reopensAt { reopens = min(reopens ?? at, at) }
                            continue
                        }
                    }
                    open.append(queue)
                }
                let names = try JSONCoding.text(open)
                guard let row = try Row.fetchOne(db.cachedStatement(sql: Self.readySQL), arguments: [names, nowMicros]) else {
                    return (false, nil, reopens)
                }
                let available: Bool = try row.decode(atIndex: 0)
                let due: Bool = try row.decode(atIndex: 1)
                return (available || due, try row.decode(atIndex: 2), reopens)
            }
            if ready { return }
            if let nextDue { until = min(until, SQLiteCoding.date(micros: nextDue)) }
            if let reopens { until = min(until, reopens) }
        } catch {
            configuration.logger.warning(
                "checking for work failed; waiting for the next poll",
                metadata: [
                    "spool.error": "\(error)"
                ])
            // The poll in real time: a test's manual clock must not stall a store that failed.
            await workSignal.wait(ticket, until: Date().adding(configuration.pollInterval), clock: SystemClock())
            return
        }
        await workSignal.wait(ticket, until: until, clock: clock)
    }

    /// Suspends until the job reaches a final state and returns its record; nil if it does not
    /// exist or is deleted meanwhile.
    ///
    /// A finish, cancel or delete in this process wakes the waiters of that job (and only
    /// those) at once. Finishes by other processes are seen by re-reading the job, first after
    /// ``Configuration/pollInterval`` and then less often, down to once a second (wall-clock time,
    /// whatever clock the caller uses). Cancelling the task ends the wait with
    /// `CancellationError`.
    public func waitUntilFinished(_ id: JobID) async throws -> JobRecord? {
        try await finishWatch.wait(for: id, pollInterval: configuration.pollInterval) { try await job($0) }
    }
}
