// PostgresStorage: waiting for claimable work.

import Foundation
import Logging
import PostgresNIO
import Spool

extension PostgresStorage {
    // MARK: Waiting

    /// Suspends until a job may be claimable in one of `queues`, `deadline` passes, or the task
    /// is cancelled.
    ///
    /// Returns at once when one of `queues` (not paused) has an available job or a due
    /// scheduled one; otherwise sleeps on `clock` until the earliest of `deadline`, the next
    /// scheduled run-at, and ``Configuration/pollInterval`` from now, or until a notification
    /// (an enqueue, hand-back, retry, rescue or resume in any process) or a local change wakes
    /// it. Cost: one indexed read per call.
    ///
    /// After a claim of `queues` that took every due job it saw (the usual reason a worker
    /// waits: fewer jobs than free slots) it does not read, and costs nothing: that claim saw
    /// every job committed before it read, a job committed since has signalled (this process)
    /// or notified (others) since the claim began, and the claim brought the next scheduled
    /// run-at. After a claim that saw due jobs it did not take (locked by another transaction,
    /// they may come back without a signal) it reads.
    public func waitForWork(queues: [String], deadline: Date, clock: any JobClock) async {
        await waitForWork(queues: queues, deadline: deadline, clock: clock, ticket: workSignal.ticket())
    }

    /// ``waitForWork(queues:deadline:clock:)`` from a ticket of the work signal taken earlier.
    package func waitForWork(queues: [String], deadline: Date, clock: any JobClock, ticket: UInt64) async {
        let now = clock.now
        var until = min(deadline, now.adding(configuration.pollInterval))
        if await exhaustiveClaims.wait(after: queues, on: workSignal, until: until, clock: clock) { return }
        let nowMicros = PostgresCoding.micros(now)
        do {
            let rows = try await rows(
                HotSQL.Ready.self,
                binds {
                    $0.append(queues); $0.append(nowMicros)
                }, "checking for work")
            if let row = rows.first {
                let (ready, nextDue) = try row.decode((Bool, Int64?).self)
                if ready { return }
                if let nextDue { until = min(until, PostgresCoding.date(micros: nextDue)) }
            }
        } catch {
            if Task.isCancelled { return }
            logger.warning("checking for work failed; waiting for the next poll", metadata: ["spool.error": "\(error)"])
            // The poll in real time: a test's manual clock must not stall a store that failed.
            await workSignal.wait(ticket, until: Date().adding(configuration.pollInterval), clock: SystemClock())
            return
        }
        await workSignal.wait(ticket, until: until, clock: clock)
    }
}

extension PostgresStorage: JobFinishObserving {
    /// Suspends until the job reaches a final state and returns its record; nil if it does not
    /// exist or is deleted meanwhile.
    ///
    /// The job is first marked as awaited (one `UPDATE`), so that the statement that finishes
    /// it, in any process, also notifies (with ``Configuration/notifications`` on): the waiter
    /// wakes when the outcome commits, not at a poll. A finish, cancel or delete in this
    /// process wakes it at once too. As a safety net (notifications off, a cancel or delete in
    /// another process, a lost LISTEN connection) the job is re-read after
    /// ``Configuration/pollInterval`` and then less often, down to once a second, in wall-clock
    /// time. Cancelling the task ends the wait with `CancellationError`.
    public func waitUntilFinished(_ id: JobID) async throws -> JobRecord? {
        try await finishWatch.wait(
            for: id, pollInterval: configuration.pollInterval,
            prepare: { _ = try await committedRows(sql.watch, binds { $0.append(PostgresCoding.uuid(id)) }, "watching job \(id)") },
            read: { try await job($0) })
    }
}
