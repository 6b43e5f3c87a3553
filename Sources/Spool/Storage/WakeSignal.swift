import Synchronization

/// A wake-up signal without lost wake-ups (an "event count"): a waiter takes a ticket, checks
/// its condition, and parks only if nothing was signalled since the ticket.
///
/// ```swift
/// let ticket = signal.ticket()
/// if conditionHolds() { return }
/// await signal.wait(ticket, until: deadline, clock: clock)
/// ```
/// Drivers use it so an enqueue wakes idle workers at once (push, not polling). A signal wakes
/// every waiter; waiters must re-check their condition (a spurious return costs one check).
/// Cost: one lock per signal or wait; nothing per waiter until someone waits.
package final class WakeSignal: Sendable {
    private struct State {
        var nextToken: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var cancelled: Set<UInt64> = []
    }

    private let state = Mutex(State())
    /// The signal count, readable without the lock (the lock-protected copy is `state.epoch`).
    private let epoch = Atomic<UInt64>(0)
    /// How many waiters are parked or about to park; a signal with none takes no lock.
    private let parked = Atomic<Int>(0)

    package init() {}

    /// A ticket: the signal's count now. Take it before checking the condition.
    package func ticket() -> UInt64 {
        epoch.load(ordering: .sequentiallyConsistent)
    }

    /// Wakes every waiter and every ticket taken before now. Costs two atomic operations when
    /// nobody waits.
    package func signal() {
        signal(waking: .max)
    }

    /// Like ``signal()`` but resumes at most `limit` parked waiters (for example one per job
    /// handed out, so a few jobs do not wake a hundred idle runners). Waiters left parked stay
    /// parked until a later signal; tickets taken before now still return at once.
    package func signal(waking limit: Int) {
        epoch.wrappingAdd(1, ordering: .sequentiallyConsistent)
        guard limit > 0, parked.load(ordering: .sequentiallyConsistent) > 0 else { return }
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            guard !state.waiters.isEmpty else { return [] }
            if limit >= state.waiters.count {
                let waiting = Array(state.waiters.values)
                state.waiters.removeAll(keepingCapacity: true)
                return waiting
            }
            var taken: [CheckedContinuation<Void, Never>] = []
            while taken.count < limit, let (_, waiter) = state.waiters.popFirst() {
                taken.append(waiter)
            }
            return taken
        }
        for waiter in waiters { waiter.resume() }
    }

    /// True when a waiter is parked or about to park.
    package var hasWaiters: Bool { parked.load(ordering: .relaxed) > 0 }

    /// Suspends until a signal after `ticket`, or cancellation. Returns at once if a signal
    /// already came after the ticket.
    package func wait(_ ticket: UInt64) async {
        let token: UInt64 = state.withLock { state in
            state.nextToken &+= 1
            return state.nextToken
        }
        // Announce the waiter before re-reading the count (pairs with `signal`'s order).
        parked.wrappingAdd(1, ordering: .sequentiallyConsistent)
        defer { parked.wrappingSubtract(1, ordering: .sequentiallyConsistent) }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = state.withLock { state in
                    if state.cancelled.remove(token) != nil { return true }
                    if epoch.load(ordering: .sequentiallyConsistent) != ticket { return true }
                    state.waiters[token] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
                if let waiter = state.waiters.removeValue(forKey: token) { return waiter }
                // Not parked yet: leave a mark so the registration returns at once. A token that
                // already returned is never looked at again, so a stray mark costs nothing.
                if epoch.load(ordering: .sequentiallyConsistent) == ticket { state.cancelled.insert(token) }
                return nil
            }
            waiter?.resume()
        }
    }

    /// Suspends until a signal after `ticket`, even in a cancelled task. For a loop that must
    /// outlive its task's cancellation until another part tells it to stop: ``wait(_:)`` returns
    /// at once in a cancelled task, so such a loop would spin without ever suspending.
    package func waitIgnoringCancellation(_ ticket: UInt64) async {
        if epoch.load(ordering: .sequentiallyConsistent) != ticket { return }
        let token: UInt64 = state.withLock { state in
            state.nextToken &+= 1
            return state.nextToken
        }
        parked.wrappingAdd(1, ordering: .sequentiallyConsistent)
        defer { parked.wrappingSubtract(1, ordering: .sequentiallyConsistent) }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow: Bool = state.withLock { state in
                if epoch.load(ordering: .sequentiallyConsistent) != ticket { return true }
                state.waiters[token] = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Suspends until a signal after `ticket`, `deadline` on `clock`, or cancellation.
    package func wait(_ ticket: UInt64, until deadline: Date, clock: any JobClock) async {
        if deadline <= clock.now { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait(ticket) }
            group.addTask { try? await clock.sleep(until: deadline) }
            await group.next()
            group.cancelAll()
        }
    }
}

import Foundation
