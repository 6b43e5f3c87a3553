// RedisStorage: waiting for claimable work.

import Foundation
import Logging
import Spool

extension RedisStorage {
    // MARK: Waiting

    /// Suspends until a job may be claimable in one of `queues`, `deadline` passes, or the task
    /// is cancelled.
    ///
    /// Returns at once when one of `queues` (not paused) has an available job or a due
    /// scheduled one; otherwise sleeps on `clock` until the earliest of `deadline`, the next
    /// scheduled run-at and ``Configuration/pollInterval`` from now, or until a wake-up (an
    /// enqueue, hand-back, retry, rescue or resume in any process) arrives. Cost: one script
    /// reading two keys per queue.
    ///
    /// After a claim of `queues` that took every due job it saw (the usual reason a worker
    /// waits: fewer jobs than free slots) it runs no script: whatever became claimable since
    /// that claim ran has signalled since (a change in this process at once, another process's
    /// through the wake-up list), and the claim brought the next scheduled run-at. After a
    /// claim that left jobs (over a demand's or a queue's limit, or more due jobs than it
    /// promotes at once) it asks the server.
    public func waitForWork(queues: [String], deadline: Date, clock: any JobClock) async {
        await waitForWork(queues: queues, deadline: deadline, clock: clock, ticket: workSignal.ticket())
    }

    /// ``waitForWork(queues:deadline:clock:)`` from a ticket of the work signal taken earlier.
    package func waitForWork(queues: [String], deadline: Date, clock: any JobClock, ticket: UInt64) async {
        let now = clock.now
        var until = min(deadline, now.adding(configuration.pollInterval))
        if await exhaustiveClaims.wait(after: queues, on: workSignal, until: until, clock: clock) { return }
        do {
            let reply = try await perform(.ready, [RedisCoding.arg(now)] + queues.map { RedisCoding.arg($0) }, "checking for work")
            if let parts = reply.elements, parts.count == 2 {
                if parts[0].int == 1 { return }
                if let next = parts[1].int { until = min(until, RedisCoding.date(millis: next)) }
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
