import Foundation
import Synchronization

/// A claim that took every due job of its queues it saw, for the wait that follows it: a
/// server driver's ``JobStorage/waitForWork(queues:deadline:clock:)`` need not ask the server
/// whether there is work then. Every job that became claimable since the claim read has bumped
/// the driver's ``WakeSignal`` since (a local change at once, another process's through the
/// driver's wake-ups), so waiting on the signal from a ticket taken before the claim, until the
/// next scheduled run-at the claim saw, misses nothing.
package struct ExhaustiveClaim: Sendable {
    /// The work signal's ticket from before the claim read.
    package let ticket: UInt64
    /// The earliest run-at of a scheduled job after the claim's time, in the claimed queues (or
    /// in any queue: earlier is safe).
    package let nextDue: Date?

    package init(ticket: UInt64, nextDue: Date?) {
        self.ticket = ticket
        self.nextDue = nextDue
    }
}

/// The last claim of each set of queues, exhaustive or not (see ``ExhaustiveClaim``), as one
/// storage's claims record them and its waits read them.
package final class ExhaustiveClaims: Sendable {
    /// How many sets of queues are remembered (a worker's demands vary with its free slots).
    static let remembered = 64

    private let records = Mutex<[String: ExhaustiveClaim]>([:])

    package init() {}

    /// Records the latest claim of `queues`: `claim` when it took every due job it saw, nil
    /// when it did not (the wait must then ask the server).
    package func record(_ queues: [String], _ claim: ExhaustiveClaim?) {
        records.withLock { records in
            if records.count >= Self.remembered { records.removeAll() }
            records[Self.key(queues)] = claim
        }
    }

    /// After a job of `queue` was handed to a worker waiting for `request` (see
    /// ``ClaimDelivering``), and `signal` signalled once to wake it: the queue held no other due
    /// job when the hand-over read it, so when the worker waits in `queue` alone and nothing else
    /// was signalled since `ticket` (taken before that read), the last exhaustive claim of
    /// `[queue]` holds again, from the ticket after the hand-over's own signal, with the run-at
    /// it saw. The worker's next wait then asks the server nothing. Otherwise, or when that claim
    /// was not exhaustive, nothing changes.
    package func renew(_ queue: String, for request: ClaimRequest, since ticket: UInt64, on signal: WakeSignal) {
        guard request.demands.count == 1, request.demands.first?.queue == queue, signal.ticket() == ticket &+ 1 else { return }
        records.withLock { records in
            let key = Self.key([queue])
            guard let claim = records[key] else { return }
            records[key] = ExhaustiveClaim(ticket: ticket &+ 1, nextDue: claim.nextDue)
        }
    }

    /// The wait after an exhaustive claim of `queues`: sleeps on `signal` from the ticket the
    /// claim took until `until` or the next run-at the claim saw, whichever is first, and
    /// returns true. Returns false at once when the last claim of `queues` was not exhaustive
    /// (the driver must then ask its server).
    package func wait(after queues: [String], on signal: WakeSignal, until: Date, clock: any JobClock) async -> Bool {
        guard let claim = records.withLock({ $0[Self.key(queues)] }) else { return false }
        await signal.wait(claim.ticket, until: claim.nextDue.map { min(until, $0) } ?? until, clock: clock)
        return true
    }

    /// The key of a set of queues, whatever their order and repetitions.
    static func key(_ queues: [String]) -> String { Set(queues).sorted().joined(separator: "\u{0}") }
}
