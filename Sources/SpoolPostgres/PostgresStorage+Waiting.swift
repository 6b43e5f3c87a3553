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
    public func waitForWork(queues: [String], deadline: Date, clock: any JobClock) async {
        let ticket = workSignal.ticket()
        let now = clock.now
        let nowMicros = PostgresCoding.micros(now)
        var until = min(deadline, now.adding(configuration.pollInterval))
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
