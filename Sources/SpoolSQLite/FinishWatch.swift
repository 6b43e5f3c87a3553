import Spool
import Synchronization

/// Wakes the tasks waiting for particular jobs to finish, and no others: a waiter for job A is
/// not woken (to re-read its job) when job B finishes, so many concurrent waiters cost one
/// wake-up each rather than one per finish.
///
/// Cost: one lock per notified batch when somebody waits; an atomic load when nobody does.
final class FinishWatch: Sendable {
    private struct Entry {
        let signal: WakeSignal
        var waiters: Int
    }

    private let entries = Mutex<[JobID: Entry]>([:])
    private let watching = Atomic<Int>(0)

    /// The signal for `id`'s finish; balance with ``stopWatching(_:)``.
    func startWatching(_ id: JobID) -> WakeSignal {
        watching.wrappingAdd(1, ordering: .sequentiallyConsistent)
        return entries.withLock { entries in
            if var entry = entries[id] {
                entry.waiters += 1
                entries[id] = entry
                return entry.signal
            }
            let entry = Entry(signal: WakeSignal(), waiters: 1)
            entries[id] = entry
            return entry.signal
        }
    }

    func stopWatching(_ id: JobID) {
        entries.withLock { entries in
            guard var entry = entries[id] else { return }
            entry.waiters -= 1
            entries[id] = entry.waiters > 0 ? entry : nil
        }
        watching.wrappingSubtract(1, ordering: .sequentiallyConsistent)
    }

    /// Wakes the waiters of `ids` (jobs that finished or were deleted).
    func notify(_ ids: some Collection<JobID>) {
        guard !ids.isEmpty, watching.load(ordering: .sequentiallyConsistent) > 0 else { return }
        let signals: [WakeSignal] = entries.withLock { entries in ids.compactMap { entries[$0]?.signal } }
        for signal in signals { signal.signal() }
    }
}
