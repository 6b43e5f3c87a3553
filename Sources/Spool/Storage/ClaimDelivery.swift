import Foundation

/// A store that can hand a waiting worker its jobs together with the wake-up: while the worker
/// waits for work, an enqueue in the same process claims the new jobs for it in the enqueue's own
/// transaction, under the same rules as ``JobLeasing/claim(_:now:)`` (pause, limits, priority),
/// and passes the claimed jobs to the waiter. The claim round trip that would follow the wake-up
/// is saved. Package-only: ``Worker`` uses it when the store has it.
package protocol ClaimDelivering: JobLeasing {
    /// Waits like ``JobLeasing/waitForWork(queues:deadline:clock:)`` on the queues of
    /// `request.demands`, and meanwhile offers `request` to this process's enqueues.
    ///
    /// - Returns: the jobs an enqueue claimed for `request` (running, leased to
    ///   `request.worker`), or an empty array when the wait ended otherwise; the caller then
    ///   claims as usual. Jobs claimed for the caller are returned even when the task was
    ///   cancelled meanwhile: they are the caller's to run or hand back.
    func waitForWork(claiming request: ClaimRequest, deadline: Date, clock: any JobClock) async -> [ClaimedJob]

    /// The workers of this process waiting in ``waitForWork(claiming:deadline:clock:)``, which
    /// the store's enqueues take and deliver to (the conformance suite registers its own).
    var claimWaiters: ClaimWaiters { get }
}
