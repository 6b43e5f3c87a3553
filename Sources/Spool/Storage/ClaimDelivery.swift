import Foundation

/// A store that can hand a waiting worker its jobs together with the wake-up: while the worker
/// waits for work, an enqueue in the same process claims the new jobs for it in the enqueue's own
/// transaction, under the same rules as ``JobLeasing/claim(_:now:)`` (pause, limits, priority),
/// and passes the claimed jobs to the waiter. The claim round trip that would follow the wake-up
/// is saved. Package-only: ``Worker`` uses it when the store has it.
package protocol ClaimDelivering: JobLeasing {
    /// The workers of this process waiting in ``waitForWork(claiming:deadline:clock:)``, which
    /// the store's enqueues take and deliver to (the conformance suite registers its own).
    var claimWaiters: ClaimWaiters { get }

    /// Signalled when a job may have become claimable here, a hand-over among them.
    var workSignal: WakeSignal { get }

    /// ``JobLeasing/waitForWork(queues:deadline:clock:)`` from a ticket of ``workSignal``
    /// taken earlier: whatever was signalled since ends the wait.
    func waitForWork(queues: [String], deadline: Date, clock: any JobClock, ticket: UInt64) async
}

extension ClaimDelivering {
    /// Waits like ``JobLeasing/waitForWork(queues:deadline:clock:)`` on the queues of
    /// `request.demands`, and meanwhile offers `request` to this process's enqueues.
    ///
    /// The ticket is taken before the waiter registers, so a hand-over at any point after the
    /// registration ends the wait.
    ///
    /// - Returns: the jobs an enqueue claimed for `request` (running, leased to
    ///   `request.worker`), or an empty array when the wait ended otherwise; the caller then
    ///   claims as usual. Jobs claimed for the caller are returned even when the task was
    ///   cancelled meanwhile: they are the caller's to run or hand back.
    package func waitForWork(claiming request: ClaimRequest, deadline: Date, clock: any JobClock) async -> [ClaimedJob] {
        let ticket = workSignal.ticket()
        let waiter = claimWaiters.register(request)
        await waitForWork(queues: request.demands.map(\.queue), deadline: deadline, clock: clock, ticket: ticket)
        return await claimWaiters.withdraw(waiter)
    }
}
