// The memory driver's JobStorage operations: enqueue, claim, finish, heartbeat, rescue, inspection.
import Foundation
import Synchronization

/// The in-process driver: jobs live in memory and die with the process.
///
/// Bounded: each queue holds at most ``Configuration/capacity`` waiting jobs (available plus
/// scheduled); an enqueue then suspends until space frees (backpressure), or fails at once with
/// `queueFull` when asked not to wait. Priorities and delayed jobs are honoured; an idle worker
/// is woken by the enqueue itself.
///
/// Costs: enqueue and claim are O(1) per job (plus O(log n) for delayed jobs); one lock guards
/// the whole store, taken once per batch. Finished jobs are kept for inspection up to
/// ``Configuration/finishedLimit`` (oldest dropped first) and until pruned. Payloads stay typed
/// values: nothing is encoded unless someone inspects a job.
public final class MemoryStorage: JobStorage, JobFinishObserving, Sendable {
    let configuration: Configuration
    private let state: Mutex<Store>
    /// Signalled when a job may have become claimable (enqueue, retry, hand-back, resume).
    let workSignal = WakeSignal()
    /// Signalled when waiting jobs leave a queue (claims, cancels, deletes), freeing space.
    let spaceSignal = WakeSignal()
    /// Signalled when any job reaches a final state or is deleted.
    let finishSignal = WakeSignal()

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.state = Mutex(Store(finishedLimit: configuration.finishedLimit))
    }

    /// Runs `body` on the store under its lock. Jobs the store forgot meanwhile are freed after
    /// the lock is released, so the other threads wait for none of that.
    func withStore<T>(_ body: (inout Store) throws -> T) rethrows -> T {
        let (result, forgotten, workflowActivity) = try state.withLock { store in
            let result = try body(&store)
            defer { store.workflowActivity = false }
            return (result, store.takeForgotten(), store.workflowActivity)
        }
        withExtendedLifetime(forgotten) {}
        if workflowActivity {
            // Batches and dependencies released, cancelled or enqueued jobs.
            workSignal.signal()
            finishSignal.signal()
            spaceSignal.signal()
        }
        return result
    }

    /// A memory store whose queues hold `capacity` waiting jobs each.
    public convenience init(capacity: Int) {
        self.init(Configuration(capacity: capacity))
    }

    // MARK: Enqueue

    public func enqueue(_ jobs: [NewJob], whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        // Every rule of JobInput; names stored in NFC (a job is copied only when one is not).
        var jobs = jobs
        for index in jobs.indices {
            if let normalized = try jobs[index].normalizedIfNeeded() { jobs[index] = normalized }
        }
        // Refuse a batch with a duplicate id before storing any of it (ids already stored are
        // checked under the lock, before the first insert).
        if jobs.count > 1 {
            var ids = Set<JobID>(minimumCapacity: jobs.count)
            for job in jobs where !ids.insert(job.id).inserted {
                throw SpoolError(code: .invalidArgument, message: "the batch holds job id \(job.id) twice", job: job.id)
            }
        }
        if jobs.contains(where: \.usesWorkflows) {
            return try await enqueueWorkflow(jobs, batch: nil, whenFull: whenFull, now: now)
        }
        var results: [EnqueueResult] = []
        results.reserveCapacity(jobs.count)
        var index = 0
        while index < jobs.count {
            let ticket = spaceSignal.ticket()
            let outcome: Result<Int, SpoolError> = withStore { store in
                // A batch that may not wait is stored whole or not at all.
                if whenFull == .fail, let full = store.firstQueueWithoutRoom(for: jobs, capacity: configuration.capacity) {
                    return .failure(SpoolError.queueFull(queue: full, capacity: configuration.capacity))
                }
                return store.insert(jobs, from: index, into: &results, capacity: configuration.capacity, now: now)
            }
            switch outcome {
            case .success(let next):
                if next > index { workSignal.signal() }
                index = next
                if index < jobs.count {
                    // The queue of jobs[index] is full.
                    if whenFull == .fail {
                        throw SpoolError.queueFull(queue: jobs[index].queue, capacity: configuration.capacity)
                    }
                    try Task.checkCancellation()
                    await spaceSignal.wait(ticket)
                    try Task.checkCancellation()
                }
            case .failure(let error):
                throw error
            }
        }
        return results
    }

    // MARK: Claim, finish, heartbeat, rescue

    public func claim(_ request: ClaimRequest, now: Date) async throws -> [ClaimedJob] {
        let taken = withStore { store in
            store.claim(request, now: now)
        }
        guard !taken.isEmpty else { return [] }
        spaceSignal.signal()
        // Built outside the lock, from what was read under it (the finisher waits meanwhile).
        return taken.map { $0.job.claimed(attempt: $0.attempt, runAt: $0.runAt, extra: $0.extra, batch: $0.batch) }
    }

    public func finish(_ completions: [JobCompletion], worker: String) async throws -> LeaseReport {
        let (lost, changes) = withStore { store in
            store.finish(completions, worker: worker)
        }
        if changes.madeAvailable || changes.scheduled || changes.freedLimitedSlot { workSignal.signal() }
        if changes.finished { finishSignal.signal() }
        return LeaseReport(lost: lost)
    }

    public func heartbeat(_ beats: [JobHeartbeat], worker: String, lease: Duration, now: Date) async throws -> LeaseReport {
        withStore { store in
            var lost: [JobID] = []
            let expiry = now.adding(lease)
            for beat in beats {
                guard let job = store.leased(beat.id, to: worker) else {
                    lost.append(beat.id)
                    continue
                }
                job.leaseExpiry = expiry
                if let progress = beat.progress { job.extras().progress = progress }
            }
            return LeaseReport(lost: lost)
        }
    }

    public func rescueExpired(now: Date, poisonAfter: Int) async throws -> RescueReport {
        let report = withStore { store in
            store.rescue(now: now, poisonAfter: poisonAfter)
        }
        if !report.rescued.isEmpty || !report.poisoned.isEmpty { workSignal.signal() }
        if !report.poisoned.isEmpty { finishSignal.signal() }
        return report
    }

    public func waitForWork(queues: [String], deadline: Date, clock: any JobClock) async {
        let ticket = workSignal.ticket()
        let (ready, nextDue, reopens) = withStore { store in
            let (ready, reopens) = store.hasClaimable(queues: queues, now: clock.now)
            return (ready, store.earliestScheduled(), reopens)
        }
        if ready { return }
        let until = [nextDue, reopens].compactMap { $0 }.reduce(deadline) { min($0, $1) }
        await workSignal.wait(ticket, until: until, clock: clock)
    }

    public func waitUntilFinished(_ id: JobID) async throws -> JobRecord? {
        while true {
            let ticket = finishSignal.ticket()
            let record = withStore { $0.lookup(id)?.record() }
            guard let record else { return nil }
            if record.state.isFinished { return record }
            await finishSignal.wait(ticket)
            try Task.checkCancellation()
        }
    }

    // MARK: Inspection

    public func job(_ id: JobID) async throws -> JobRecord? {
        withStore { $0.lookup(id)?.record() }
    }

    public func jobs(_ filter: JobFilter, after: JobID?, limit: Int) async throws -> JobPage {
        let limit = min(max(1, limit), 1_000_000)
        return withStore { store in
            var matches: [MemoryJob] = []
            for job in store.index.jobs where filter.matches(state: job.state, queue: job.queue, kind: job.kind) {
                if let after, job.id >= after { continue }
                matches.append(job)
            }
            // Newest first; take one extra to know whether another page exists.
            let page = matches.sorted { $0.id > $1.id }.prefix(limit + 1)
            let jobs = page.prefix(limit).map { $0.record() }
            return JobPage(jobs: jobs, nextCursor: page.count > limit ? jobs.last?.id : nil)
        }
    }

    public func stats() async throws -> StorageStats {
        withStore { store in
            var stats = StorageStats()
            for (name, queue) in store.queues {
                var counts: [JobState: Int] = [:]
                for state in JobState.allCases where queue.counts[state.ordinal] > 0 {
                    counts[state] = queue.counts[state.ordinal]
                }
                stats.queues[name] = counts
            }
            return stats
        }
    }

    public func retry(_ ids: [JobID], now: Date) async throws -> [JobID] {
        let retried = withStore { store in
            ids.filter { store.manualRetry($0, now: now) }
        }
        if !retried.isEmpty { workSignal.signal() }
        return retried
    }

    public func cancel(_ ids: [JobID], now: Date) async throws -> [JobID] {
        let cancelled = withStore { store in
            ids.filter { store.cancel($0, now: now) }
        }
        if !cancelled.isEmpty {
            spaceSignal.signal()
            finishSignal.signal()
            workSignal.signal()  // a running job's slot under a queue's max-running limit is free
        }
        return cancelled
    }

    public func delete(_ ids: [JobID]) async throws -> [JobID] {
        let deleted = withStore { store in
            ids.filter { store.delete($0, now: Date()) }
        }
        if !deleted.isEmpty {
            spaceSignal.signal()
            finishSignal.signal()
            workSignal.signal()
        }
        return deleted
    }

    public func prune(finishedBefore before: Date, limit: Int) async throws -> Int {
        withStore { store in
            store.prune(before: before, limit: limit)
        }
    }

    public func setPaused(_ paused: Bool, queue: String) async throws {
        withStore { store in
            if paused { store.paused.insert(queue) } else { store.paused.remove(queue) }
        }
        if !paused { workSignal.signal() }
    }

    public func pausedQueues() async throws -> Set<String> {
        withStore { $0.paused }
    }

    public func setLimits(_ limits: QueueLimits, queue: String) async throws {
        try limits.validate()
        withStore { store in
            store.queue(queue).limits = limits
            if limits.rate == nil { store.queue(queue).starts.removeAll() }
        }
        workSignal.signal()
    }

    public func queueLimits() async throws -> [String: QueueLimits] {
        withStore { store in
            store.queues.filter { !$0.value.limits.isNone }.mapValues(\.limits)
        }
    }
}
