import Synchronization

/// Wakes the tasks waiting for particular jobs to finish, and no others: a waiter for job A is
/// not woken (to re-read its job) when job B finishes, so many concurrent waiters cost one
/// wake-up each rather than one per finish.
///
/// Cost: one lock per notified batch when somebody waits; an atomic load when nobody does.
/// For drivers (SQLite, PostgreSQL).
package final class FinishWatch: Sendable {
    private struct Entry {
        let signal: WakeSignal
        var waiters: Int
    }

    private let entries = Mutex<[JobID: Entry]>([:])
    private let watching = Atomic<Int>(0)

    /// The signal for `id`'s finish; balance with ``stopWatching(_:)``.
    package init() {}

    package func startWatching(_ id: JobID) -> WakeSignal {
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

    package func stopWatching(_ id: JobID) {
        entries.withLock { entries in
            guard var entry = entries[id] else { return }
            entry.waiters -= 1
            entries[id] = entry.waiters > 0 ? entry : nil
        }
        watching.wrappingSubtract(1, ordering: .sequentiallyConsistent)
    }

    /// Wakes the waiters of `ids` (jobs that finished or were deleted).
    package func notify(_ ids: some Collection<JobID>) {
        guard !ids.isEmpty, watching.load(ordering: .sequentiallyConsistent) > 0 else { return }
        let signals: [WakeSignal] = entries.withLock { entries in ids.compactMap { entries[$0]?.signal } }
        for signal in signals { signal.signal() }
    }

    /// Waits until `read` finds job `id` finished (returns it) or gone (nil): `read` runs at
    /// once, again whenever ``notify(_:)`` names the job, and as a safety net after
    /// `pollInterval` and then less often, down to once a second, in wall-clock time (whatever
    /// clock the caller uses). `prepare` runs once the job is watched, before the first read.
    /// Cancelling the task ends the wait with `CancellationError`.
    package func wait(
        for id: JobID, pollInterval: Duration, prepare: () async throws -> Void = {}, read: (JobID) async throws -> JobRecord?
    ) async throws -> JobRecord? {
        try await wait(for: id, pollInterval: pollInterval, prepare: prepare, read: read) { $0.state.isFinished }
    }

    /// Waits as above for anything watched by a job's id (a batch, by its id's bits): until
    /// `read` returns nil (gone) or a value `isDone` accepts.
    package func wait<Value>(
        for id: JobID, pollInterval: Duration, prepare: () async throws -> Void = {}, read: (JobID) async throws -> Value?,
        isDone: (Value) -> Bool
    ) async throws -> Value? {
        let signal = startWatching(id)
        defer { stopWatching(id) }
        try await prepare()
        let system = SystemClock()
        var delay = pollInterval
        while true {
            let ticket = signal.ticket()
            guard let value = try await read(id) else { return nil }
            if isDone(value) { return value }
            try Task.checkCancellation()
            await signal.wait(ticket, until: system.now.adding(delay), clock: system)
            try Task.checkCancellation()
            delay = min(delay * 2, max(pollInterval, .seconds(1)))
        }
    }

    /// True while somebody waits for `id` (for tests).
    package func isWatching(_ id: JobID) -> Bool {
        entries.withLock { $0[id] != nil }
    }

    /// Wakes every waiter (to re-read its job): after notifications may have been missed.
    package func notifyAll() {
        guard watching.load(ordering: .sequentiallyConsistent) > 0 else { return }
        let signals = entries.withLock { entries in entries.values.map(\.signal) }
        for signal in signals { signal.signal() }
    }
}
