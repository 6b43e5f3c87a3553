// Everything the memory driver holds behind its lock (Store), and the store's operations on it.
import DequeModule
import Foundation
import HeapModule

/// Everything the memory driver holds. Only ever reached under ``MemoryStorage``'s lock, which
/// is what makes sending it into a locked closure safe.
struct Store: @unchecked Sendable {
    var queues: [String: MemoryQueue] = [:]
    var kinds: [String: MemoryKind] = [:]
    /// Every job the store knows.
    var index = JobIndex()
    /// Jobs in the order they were claimed, running ones among them. An entry goes stale when
    /// its job stops running (it is not removed then: finishing a job touches no shared index);
    /// each claim drops stale entries (``compactRunning()``). A job claimed again may appear
    /// twice.
    var runningOrder = Deque<MemoryJob>()
    var scheduled = Heap<ScheduledEntry>()
    /// Finished jobs in the order they finished, for the retention bound (entries of jobs
    /// since retried, deleted or pruned are stale and skipped).
    var finishedOrder = Deque<MemoryJob>()
    let finishedLimit: Int
    /// Unique keys held by live jobs.
    var uniqueKeys: [String: MemoryJob] = [:]
    var paused: Set<String> = []
    /// Jobs forgotten under the lock, to be freed after it (``MemoryStorage/withStore(_:)``).
    var forgotten: [MemoryJob] = []
    /// Batches by id (see `Store+Workflows.swift`).
    var batches: [BatchID: MemoryBatch] = [:]
    /// Jobs of workflows that reached a final state, whose bookkeeping is under way or next.
    var settling = Deque<MemoryJob>()
    var isSettling = false
    /// True while a workflow enqueue stores its jobs.
    var deferBatchSettlement = false
    /// Set when workflow bookkeeping released, cancelled or enqueued jobs: the storage then
    /// wakes workers, finish waiters and producers waiting for space.
    var workflowActivity = false

    init(finishedLimit: Int) {
        self.finishedLimit = finishedLimit
    }

    func lookup(_ id: JobID) -> MemoryJob? {
        index.job(id)
    }

    /// The job `id` if it is running under a lease held by `worker`.
    mutating func leased(_ id: JobID, to worker: String) -> MemoryJob? {
        guard let job = index.nearbyJob(id), job.state == .running, job.leaseOwner == worker else { return nil }
        return job
    }

    /// Drops stale entries from ``runningOrder``: from the front (jobs finish roughly in the
    /// order they were claimed), and all of them once they outnumber the running jobs.
    mutating func compactRunning() {
        while let first = runningOrder.first, first.state != .running { runningOrder.removeFirst() }
        guard runningOrder.count > 1024 else { return }
        let running = queues.values.reduce(0) { $0 + $1.counts[JobState.running.ordinal] }
        guard runningOrder.count > 2 * running + 1024 else { return }
        runningOrder = Deque(distinctRunning())
    }

    /// The running jobs of ``runningOrder``, each once, in claim order.
    func distinctRunning() -> [MemoryJob] {
        var seen = Set<ObjectIdentifier>()
        return runningOrder.filter { $0.state == .running && seen.insert(ObjectIdentifier($0)).inserted }
    }

    mutating func queue(_ name: String) -> MemoryQueue {
        if let queue = queues[name] { return queue }
        let queue = MemoryQueue(name)
        queues[name] = queue
        return queue
    }

    mutating func kind(_ name: String) -> MemoryKind {
        if let kind = kinds[name] { return kind }
        let kind = MemoryKind(name)
        kinds[name] = kind
        return kind
    }

    /// The earliest run-at of a scheduled job (dropping stale heap entries on the way).
    mutating func earliestScheduled() -> Date? {
        while let top = scheduled.min {
            if top.isCurrent { return top.runAt }
            _ = scheduled.removeMin()
        }
        return nil
    }

    /// The first queue that cannot take its share of `jobs` (counting every job as new).
    func firstQueueWithoutRoom(for jobs: [NewJob], capacity: Int) -> String? {
        var needed: [String: Int] = [:]
        for job in jobs { needed[job.queue, default: 0] += 1 }
        for (name, count) in needed where (queues[name]?.waiting ?? 0) + count > capacity {
            return name
        }
        return nil
    }

    /// Inserts jobs from `start` until one finds its queue full; returns where it stopped.
    mutating func insert(
        _ jobs: [NewJob], from start: Int, into results: inout [EnqueueResult], capacity: Int, now: Date
    ) -> Result<Int, SpoolError> {
        if start == 0, let taken = jobs.first(where: { lookup($0.id) != nil }) {
            return .failure(SpoolError(code: .invalidArgument, message: "a job with id \(taken.id) already exists", job: taken.id))
        }
        var index = start
        var home: MemoryQueue?
        var kind: MemoryKind?
        while index < jobs.count {
            let new = jobs[index]
            if let key = new.uniqueKey, let holder = uniqueKeys[key], holder.state.isLive {
                results.append(EnqueueResult(id: holder.id, state: holder.state, existing: true))
                index += 1
                continue
            }
            // Batches are usually of one queue and kind: reuse the last lookups.
            if home?.name != new.queue { home = queue(new.queue) }
            if kind?.name != new.kind { kind = self.kind(new.kind) }
            guard let home, let kind else { break }
            if home.waiting >= capacity { break }
            let state = new.initialState(now: now)
            let job = MemoryJob(new, home: home, kind: kind, state: state)
            if let previous = self.index.insert(job) {
                // Two ids sharing their low half (one chance in 2^64): keep the stored job.
                return .failure(
                    SpoolError(code: .invalidArgument, message: "job id \(job.id) collides with stored job \(previous.id)", job: job.id))
            }
            home.move(from: nil, to: state)
            if state == .scheduled {
                scheduled.insert(ScheduledEntry(runAt: job.runAt, job: job))
            } else {
                home.push(job)
            }
            if let key = new.uniqueKey { uniqueKeys[key] = job }
            results.append(EnqueueResult(id: job.id, state: state, existing: false))
            index += 1
        }
        return .success(index)
    }

    /// Moves due scheduled jobs to their queue's lanes.
    mutating func promoteDue(now: Date) {
        while let top = scheduled.min, top.runAt <= now {
            _ = scheduled.removeMin()
            guard top.isCurrent else { continue }
            let job = top.job
            job.state = .available
            job.home.move(from: .scheduled, to: .available)
            job.home.push(job)
        }
    }

    /// Whether one of `names` has a job a claim could take now, and else when a queue at its
    /// rate limit reopens.
    func hasClaimable(queues names: [String], now: Date) -> (Bool, reopens: Date?) {
        var reopens: Date? = nil
        var open: [String] = []
        for name in names where !paused.contains(name) {
            guard let queue = queues[name] else { open.append(name); continue }
            if let allowance = queue.allowance(now: now), allowance.jobs == 0 {
                if let at = allowance.reopensAt { reopens = min(reopens ?? at, at) }
                continue
            }
            if queue.counts[JobState.available.ordinal] > 0 { return (true, nil) }
            open.append(name)
        }
        if let top = scheduled.min, top.runAt <= now, open.contains(top.job.queue) { return (true, nil) }
        return (false, reopens)
    }

    /// A job taken by a claim, with its fields that may change later (read under the lock).
    struct Taken {
        let job: MemoryJob
        let attempt: UInt16
        let runAt: Date
        let extra: MemoryJob.Extra?
        let batch: BatchID?
    }

    mutating func claim(_ request: ClaimRequest, now: Date) -> [Taken] {
        promoteDue(now: now)
        var claimed: [Taken] = []
        claimed.reserveCapacity(request.limit)
        let expiry = now.adding(request.lease)
        compactRunning()
        for demand in request.demands where demand.limit > 0 && claimed.count < request.limit {
            guard !paused.contains(demand.queue), let queue = queues[demand.queue] else { continue }
            var taken = 0
            let allowance = queue.allowance(now: now)
            let allowed = min(demand.limit, request.limit - claimed.count, allowance?.jobs ?? .max)
            while taken < allowed, queue.counts[JobState.available.ordinal] > 0, let job = queue.popAvailable() {
                job.state = .running
                job.attempt &+= 1
                job.attemptedStamp = job.stamp(now)
                queue.move(from: .available, to: .running)
                job.leaseOwner = request.worker
                job.leaseExpiry = expiry
                runningOrder.append(job)
                claimed.append(
                    Taken(job: job, attempt: job.attempt, runAt: job.runAt, extra: job.extra, batch: job.extra?.workflow?.batch?.id))
                taken += 1
            }
            if taken > 0, queue.limits.rate != nil { queue.starts.append((now, taken)) }
        }
        return claimed
    }

    struct FinishChanges {
        var madeAvailable = false
        /// A retry or snooze made a job due later: waiters sleeping until their idle deadline
        /// must learn of the nearer due time.
        var scheduled = false
        var finished = false
        /// A job of a queue with a max-running limit stopped running.
        var freedLimitedSlot = false
    }

    mutating func finish(_ completions: [JobCompletion], worker: String) -> ([JobID], FinishChanges) {
        var lost: [JobID] = []
        var changes = FinishChanges()
        for completion in completions {
            guard let job = leased(completion.id, to: worker),
                let next = JobStateMachine.next(from: .running, on: completion.event)
            else {
                lost.append(completion.id)
                continue
            }
            job.extra?.expiredLeases = 0
            switch completion.outcome {
            case .succeeded(let result):
                if let result { job.extras().result = result }
            case .retry(let at, let error):
                job.recordError(error)
                job.runAt = at
            case .snooze(let until):
                job.attempt &-= 1
                job.runAt = until
            case .dead(let error):
                job.recordError(error)
            case .cancelled(let reason):
                job.recordError(JobAttemptError(attempt: Int(job.attempt), at: completion.at, message: reason, reason: "cancelled"))
            case .handBack:
                job.attempt &-= 1
            }
            move(job, to: next, at: completion.at)
            if next == .available { changes.madeAvailable = true }
            if next == .scheduled { changes.scheduled = true }
            if next.isFinished { changes.finished = true }
            if job.home.limits.maxRunning != nil { changes.freedLimitedSlot = true }
        }
        return (lost, changes)
    }

    /// Moves `job` to `next`, keeping counts, lanes, the scheduled heap, unique keys and the
    /// finished window in step.
    mutating func move(_ job: MemoryJob, to next: JobState, at now: Date) {
        let previous = job.state
        job.home.move(from: job.state, to: next)
        job.state = next
        defer {
            if job.extra?.workflow != nil { workflowMoved(job, from: previous, at: now) }
        }
        switch next {
        case .available:
            job.home.push(job)
        case .scheduled:
            scheduled.insert(ScheduledEntry(runAt: job.runAt, job: job))
        case .succeeded, .dead, .cancelled:
            job.finishedStamp = job.stamp(now)
            if let key = job.extra?.uniqueKey, uniqueKeys[key] === job { uniqueKeys[key] = nil }
            finishedOrder.append(job)
            trimFinished()
        case .running, .pending:
            break
        }
    }

    /// Forgets the oldest finished jobs beyond the retention bound.
    mutating func trimFinished() {
        while finishedOrder.count > finishedLimit, let oldest = finishedOrder.popFirst() {
            if oldest.state.isFinished { forget(oldest) }
        }
    }

    mutating func takeForgotten() -> [MemoryJob] {
        guard !forgotten.isEmpty else { return [] }
        defer { forgotten = [] }
        return forgotten
    }

    mutating func forget(_ job: MemoryJob) {
        guard index.remove(job) else { return }
        forgotten.append(job)
        job.home.move(from: job.state, to: nil)
        if let key = job.extra?.uniqueKey, uniqueKeys[key] === job { uniqueKeys[key] = nil }
    }

    mutating func rescue(now: Date, poisonAfter: Int) -> RescueReport {
        var report = RescueReport()
        let expired = distinctRunning().filter { $0.leaseExpiry < now }.sorted { $0.id < $1.id }
        for job in expired {
            let owner = job.leaseOwner ?? ""
            let extra = job.extras()
            extra.expiredLeases += 1
            job.recordError(
                JobAttemptError(
                    attempt: Int(job.attempt), at: now,
                    message: "the lease of worker '\(owner)' expired (worker crashed or hung)", reason: "lease_expired"
                ))
            if extra.expiredLeases > poisonAfter {
                job.recordError(
                    JobAttemptError(
                        attempt: Int(job.attempt), at: now,
                        message: "poison job: its lease expired \(extra.expiredLeases) times in a row", reason: "poison"
                    ))
                move(job, to: .dead, at: now)
                report.poisoned.append(job.id)
            } else {
                move(job, to: .available, at: now)
                report.rescued.append(job.id)
            }
        }
        return report
    }

    mutating func manualRetry(_ id: JobID, now: Date) -> Bool {
        guard let job = lookup(id), JobStateMachine.next(from: job.state, on: .manualRetry) != nil else { return false }
        if let key = job.extra?.uniqueKey {
            if let holder = uniqueKeys[key], holder !== job, holder.state.isLive { return false }
            uniqueKeys[key] = job
        }
        job.attempt = 0
        job.runAt = now
        job.extra?.expiredLeases = 0
        job.finishedStamp = 0
        move(job, to: .available, at: now)
        return true
    }

    mutating func cancel(_ id: JobID, now: Date) -> Bool {
        guard let job = lookup(id), JobStateMachine.next(from: job.state, on: .cancel) != nil else { return false }
        job.recordError(JobAttemptError(attempt: Int(job.attempt), at: now, message: "cancelled by request", reason: "cancelled"))
        move(job, to: .cancelled, at: now)
        return true
    }

    mutating func delete(_ id: JobID, now: Date) -> Bool {
        guard let job = lookup(id) else { return false }
        let previous = job.state
        forget(job)
        // Lanes and the heap drop the stale entry when they reach it.
        job.state = .cancelled
        // For its batch and dependents, a job deleted before it finished was cancelled.
        if previous.isLive, job.extra?.workflow != nil { workflowMoved(job, from: previous, at: now) }
        return true
    }

    mutating func prune(before: Date, limit: Int) -> Int {
        var pruned = 0
        var kept = Deque<MemoryJob>()
        while let job = finishedOrder.popFirst() {
            guard lookup(job.id) === job, job.state.isFinished else { continue }
            let finishedAt = job.date(ofStamp: job.finishedStamp) ?? job.runAt
            if pruned < limit && finishedAt < before {
                forget(job)
                pruned += 1
            } else {
                kept.append(job)
            }
        }
        finishedOrder = kept
        pruneBatches(before: before, limit: limit)
        return pruned
    }
}
