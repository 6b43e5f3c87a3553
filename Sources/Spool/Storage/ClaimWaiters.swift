import Foundation
import Synchronization

/// The workers of this process that wait for work, each with the claim it would make, so that
/// a driver's enqueue can claim its jobs for one of them in its own transaction and pass them on
/// with the wake-up (``ClaimDelivering/waitForWork(claiming:deadline:clock:)``).
///
/// A waiter is `waiting` (registered), then `taken` by an enqueue whose transaction is in flight,
/// then `delivered` the jobs that transaction claimed for it (none when it rolled back). Its
/// withdrawal after the wait returns what was delivered, waiting for a delivery in flight:
/// jobs claimed for a waiter always reach it.
package final class ClaimWaiters: Sendable {
    package struct Waiter: Sendable {
        package let id: UInt64
        package let request: ClaimRequest
    }

    private enum Status {
        case waiting(ClaimRequest)
        case taken(CheckedContinuation<[ClaimedJob], Never>?)
        case delivered([ClaimedJob])
    }

    private struct State {
        var next: UInt64 = 0
        var waiters: [UInt64: Status] = [:]
        /// How many are `waiting`: an enqueue with none takes nothing (and sorts nothing).
        var waiting = 0
    }

    private let state = Mutex(State())

    package init() {}

    /// How many waiters are registered and not taken (for tests).
    package var waitingCount: Int { state.withLock { $0.waiting } }

    /// Registers a waiter with the claim it would make; enqueues may take it from now on.
    package func register(_ request: ClaimRequest) -> UInt64 {
        state.withLock { state in
            state.next += 1
            state.waiters[state.next] = .waiting(request)
            state.waiting += 1
            return state.next
        }
    }

    /// Takes waiters (oldest first) that wait in one of the queues of `available` (jobs that
    /// just became claimable there), until their free slots cover those jobs. Each taken waiter
    /// must then get exactly one ``deliver(_:to:)``.
    package func take(for available: [String: Int]) -> [Waiter] {
        state.withLock { state in
            guard state.waiting > 0, !available.isEmpty else { return [] }
            var left = available
            var taken: [Waiter] = []
            for id in state.waiters.keys.sorted() {
                guard case .waiting(let request) = state.waiters[id] else { continue }
                guard request.demands.contains(where: { (left[$0.queue] ?? 0) > 0 }) else { continue }
                state.waiters[id] = .taken(nil)
                state.waiting -= 1
                taken.append(Waiter(id: id, request: request))
                var slots = request.limit
                for demand in request.demands where slots > 0 {
                    let jobs = left[demand.queue] ?? 0
                    let share = min(jobs, demand.limit, slots)
                    left[demand.queue] = jobs - share
                    slots -= share
                }
                if !left.values.contains(where: { $0 > 0 }) { break }
            }
            return taken
        }
    }

    /// Hands a taken waiter the jobs claimed for it (none when the claim or its transaction
    /// failed).
    package func deliver(_ jobs: [ClaimedJob], to id: UInt64) {
        let parked: CheckedContinuation<[ClaimedJob], Never>? = state.withLock { state in
            guard case .taken(let continuation) = state.waiters[id] else { return nil }
            if let continuation {
                state.waiters[id] = nil
                return continuation
            }
            state.waiters[id] = .delivered(jobs)
            return nil
        }
        parked?.resume(returning: jobs)
    }

    /// Ends a wait: returns the jobs delivered to the waiter, waiting for a delivery in flight,
    /// or nothing if no enqueue took it.
    package func withdraw(_ id: UInt64) async -> [ClaimedJob] {
        // A taken waiter's delivery comes when the enqueue's transaction ends, cancelled or not.
        await withCheckedContinuation { continuation in
            let now: [ClaimedJob]? = state.withLock { state in
                switch state.waiters[id] {
                case .waiting:
                    state.waiters[id] = nil
                    state.waiting -= 1
                    return []
                case .delivered(let jobs):
                    state.waiters[id] = nil
                    return jobs
                case .taken:
                    state.waiters[id] = .taken(continuation)
                    return nil
                case nil:
                    return []
                }
            }
            if let now { continuation.resume(returning: now) }
        }
    }
}
