import DequeModule
import Foundation
import HeapModule
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
    /// Settings of the memory driver.
    public struct Configuration: Sendable {
        /// The most waiting (available + scheduled) jobs one queue holds. Default 10,000.
        public var capacity: Int
        /// The most finished jobs kept for inspection; older ones are forgotten. Default 10,000.
        public var finishedLimit: Int

        public init(capacity: Int = 10_000, finishedLimit: Int = 10_000) {
            self.capacity = max(1, capacity)
            self.finishedLimit = max(0, finishedLimit)
        }
    }

    private let configuration: Configuration
    private let state: Mutex<Store>
    /// Signalled when a job may have become claimable (enqueue, retry, hand-back, resume).
    private let workSignal = WakeSignal()
    /// Signalled when waiting jobs leave a queue (claims, cancels, deletes), freeing space.
    private let spaceSignal = WakeSignal()
    /// Signalled when any job reaches a final state or is deleted.
    private let finishSignal = WakeSignal()

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.state = Mutex(Store(finishedLimit: configuration.finishedLimit))
    }

    /// A memory store whose queues hold `capacity` waiting jobs each.
    public convenience init(capacity: Int) {
        self.init(Configuration(capacity: capacity))
    }

    // MARK: Enqueue

    public func enqueue(_ jobs: [NewJob], whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        for job in jobs { try job.validate() }
        var results: [EnqueueResult] = []
        results.reserveCapacity(jobs.count)
        var index = 0
        while index < jobs.count {
            let ticket = spaceSignal.ticket()
            let outcome: Result<Int, SpoolError> = state.withLock { store in
                store.insert(jobs, from: index, into: &results, capacity: configuration.capacity, now: now)
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
        let claimed = state.withLock { store in
            store.claim(request, now: now)
        }
        if !claimed.isEmpty { spaceSignal.signal() }
        return claimed
    }

    public func finish(_ completions: [JobCompletion], worker: String) async throws -> [JobID] {
        let (lost, changes) = state.withLock { store in
            store.finish(completions, worker: worker)
        }
        if changes.madeAvailable { workSignal.signal() }
        if changes.finished { finishSignal.signal() }
        return lost
    }

    public func heartbeat(_ beats: [JobHeartbeat], worker: String, lease: Duration, now: Date) async throws -> [JobID] {
        state.withLock { store in
            var lost: [JobID] = []
            let expiry = now.adding(lease)
            for beat in beats {
                guard let running = store.running[beat.id], running.owner == worker else {
                    lost.append(beat.id)
                    continue
                }
                store.running[beat.id]?.expiresAt = expiry
                if let progress = beat.progress { running.job.extras().progress = progress }
            }
            return lost
        }
    }

    public func rescueExpired(now: Date, poisonAfter: Int) async throws -> RescueReport {
        let report = state.withLock { store in
            store.rescue(now: now, poisonAfter: poisonAfter)
        }
        if !report.rescued.isEmpty { workSignal.signal() }
        if !report.poisoned.isEmpty { finishSignal.signal() }
        return report
    }

    public func waitForWork(queues: [String], deadline: Date, clock: any JobClock) async {
        let ticket = workSignal.ticket()
        let (ready, nextDue) = state.withLock { store in
            (store.hasClaimable(queues: queues, now: clock.now), store.earliestScheduled())
        }
        if ready { return }
        let until = nextDue.map { min($0, deadline) } ?? deadline
        await workSignal.wait(ticket, until: until, clock: clock)
    }

    public func waitUntilFinished(_ id: JobID) async throws -> JobRecord? {
        while true {
            let ticket = finishSignal.ticket()
            let record = state.withLock { $0.index[id]?.record(running: $0.running[id]) }
            guard let record else { return nil }
            if record.state.isFinished { return record }
            await finishSignal.wait(ticket)
            try Task.checkCancellation()
        }
    }

    // MARK: Inspection

    public func job(_ id: JobID) async throws -> JobRecord? {
        state.withLock { $0.index[id]?.record(running: $0.running[id]) }
    }

    public func jobs(_ filter: JobFilter, after: JobID?, limit: Int) async throws -> JobPage {
        let limit = max(1, limit)
        return state.withLock { store in
            var matches: [MemoryJob] = []
            for job in store.index.values where filter.matches(state: job.state, queue: job.queue, kind: job.kind) {
                if let after, job.id >= after { continue }
                matches.append(job)
            }
            // Newest first; take one extra to know whether another page exists.
            let page = matches.sorted { $0.id > $1.id }.prefix(limit + 1)
            let jobs = page.prefix(limit).map { $0.record(running: store.running[$0.id]) }
            return JobPage(jobs: jobs, nextCursor: page.count > limit ? jobs.last?.id : nil)
        }
    }

    public func stats() async throws -> StorageStats {
        state.withLock { store in
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
        let retried = state.withLock { store in
            ids.filter { store.manualRetry($0, now: now) }
        }
        if !retried.isEmpty { workSignal.signal() }
        return retried
    }

    public func cancel(_ ids: [JobID], now: Date) async throws -> [JobID] {
        let cancelled = state.withLock { store in
            ids.filter { store.cancel($0, now: now) }
        }
        if !cancelled.isEmpty {
            spaceSignal.signal()
            finishSignal.signal()
        }
        return cancelled
    }

    public func delete(_ ids: [JobID]) async throws -> [JobID] {
        let deleted = state.withLock { store in
            ids.filter { store.delete($0) }
        }
        if !deleted.isEmpty {
            spaceSignal.signal()
            finishSignal.signal()
        }
        return deleted
    }

    public func prune(finishedBefore before: Date, limit: Int) async throws -> Int {
        state.withLock { store in
            store.prune(before: before, limit: limit)
        }
    }

    public func setPaused(_ paused: Bool, queue: String) async throws {
        state.withLock { store in
            if paused { store.paused.insert(queue) } else { store.paused.remove(queue) }
        }
        if !paused { workSignal.signal() }
    }

    public func pausedQueues() async throws -> Set<String> {
        state.withLock { $0.paused }
    }
}

// MARK: - The store behind the lock

/// One job as the memory driver keeps it: the hot fields inline, the rest in `extra`, allocated
/// only for jobs that need it.
final class MemoryJob: @unchecked Sendable {
    // Only touched under the store's lock.
    let id: JobID
    let queue: String
    let kind: String
    let payload: JobPayload
    var priority: Int
    var state: JobState
    var attempt: Int32
    var maxAttempts: Int32
    var runAt: Date
    let createdAt: Date
    /// When the last attempt started / the job finished; NaN when not (yet).
    var attemptedAt: Double = .nan
    var finishedAt: Double = .nan
    var extra: Extra?

    final class Extra {
        var errors: [JobAttemptError] = []
        var uniqueKey: String?
        var timeout: Duration?
        var result: [UInt8]?
        var progress: JobProgress?
        var expiredLeases = 0
        var metadata: [String: String] = [:]
    }

    init(_ new: NewJob, state: JobState) {
        id = new.id
        queue = new.queue
        kind = new.kind
        payload = new.payload
        priority = new.priority
        self.state = state
        attempt = 0
        maxAttempts = Int32(clamping: new.maxAttempts)
        runAt = new.runAt
        createdAt = new.createdAt
        if new.uniqueKey != nil || new.timeout != nil || !new.metadata.isEmpty {
            let extra = Extra()
            extra.uniqueKey = new.uniqueKey
            extra.timeout = new.timeout
            extra.metadata = new.metadata
            self.extra = extra
        }
    }

    func extras() -> Extra {
        if let extra { return extra }
        let extra = Extra()
        self.extra = extra
        return extra
    }

    func record(running: RunningLease?) -> JobRecord {
        JobRecord(
            id: id, queue: queue, kind: kind, payload: payload, priority: priority, state: state,
            attempt: Int(attempt), maxAttempts: Int(maxAttempts), runAt: runAt, createdAt: createdAt,
            attemptedAt: attemptedAt.isNaN ? nil : Date(timeIntervalSince1970: attemptedAt),
            finishedAt: finishedAt.isNaN ? nil : Date(timeIntervalSince1970: finishedAt),
            leaseOwner: running?.owner, leaseExpiresAt: running?.expiresAt, errors: extra?.errors ?? [],
            uniqueKey: extra?.uniqueKey, timeout: extra?.timeout, result: extra?.result,
            progress: extra?.progress, expiredLeases: extra?.expiredLeases ?? 0, metadata: extra?.metadata ?? [:]
        )
    }

    func claimed() -> ClaimedJob {
        ClaimedJob(
            id: id, queue: queue, kind: kind, payload: payload, priority: priority, attempt: Int(attempt),
            maxAttempts: Int(maxAttempts), createdAt: createdAt, runAt: runAt, timeout: extra?.timeout,
            metadata: extra?.metadata ?? [:]
        )
    }

    func recordError(_ error: JobAttemptError) {
        let extra = extras()
        extra.errors.append(error)
        if extra.errors.count > JobAttemptError.historyLimit {
            extra.errors.removeFirst(extra.errors.count - JobAttemptError.historyLimit)
        }
    }
}

/// The lease of a running job.
struct RunningLease {
    let job: MemoryJob
    let owner: String
    var expiresAt: Date
}

/// A queue's waiting jobs, by priority (highest first), each priority in arrival order.
struct MemoryQueue {
    /// Priorities in descending order, and their lanes.
    var priorities: [Int] = []
    var lanes: [Int: Deque<MemoryJob>] = [:]
    /// Jobs of this queue in each state (indexed by `JobState.ordinal`).
    var counts = [Int](repeating: 0, count: JobState.allCases.count)

    var waiting: Int { counts[JobState.available.ordinal] + counts[JobState.scheduled.ordinal] }

    mutating func push(_ job: MemoryJob) {
        if lanes[job.priority] == nil {
            lanes[job.priority] = Deque()
            priorities.append(job.priority)
            priorities.sort(by: >)
        }
        lanes[job.priority]!.append(job)
    }

    mutating func move(from old: JobState?, to new: JobState?) {
        if let old { counts[old.ordinal] -= 1 }
        if let new { counts[new.ordinal] += 1 }
    }
}

/// A scheduled job in the time-ordered heap (earliest run-at, then lowest id).
struct ScheduledEntry: Comparable {
    let runAt: Date
    let job: MemoryJob
    /// The job's run-at when it was pushed: an entry whose job has since moved on is stale.
    static func < (lhs: ScheduledEntry, rhs: ScheduledEntry) -> Bool {
        (lhs.runAt, lhs.job.id) < (rhs.runAt, rhs.job.id)
    }
    static func == (lhs: ScheduledEntry, rhs: ScheduledEntry) -> Bool {
        lhs.runAt == rhs.runAt && lhs.job === rhs.job
    }
}

struct Store {
    var queues: [String: MemoryQueue] = [:]
    /// Every job the store knows, by id.
    var index: [JobID: MemoryJob] = [:]
    var running: [JobID: RunningLease] = [:]
    var scheduled = Heap<ScheduledEntry>()
    /// Finished jobs in the order they finished, for the retention bound.
    var finishedOrder = Deque<JobID>()
    let finishedLimit: Int
    /// Unique keys held by live jobs.
    var uniqueKeys: [String: MemoryJob] = [:]
    var paused: Set<String> = []

    init(finishedLimit: Int) {
        self.finishedLimit = finishedLimit
    }

    /// The earliest run-at of a scheduled job (dropping stale heap entries on the way).
    mutating func earliestScheduled() -> Date? {
        while let top = scheduled.min {
            if top.job.state == .scheduled && top.job.runAt == top.runAt && index[top.job.id] === top.job { return top.runAt }
            _ = scheduled.removeMin()
        }
        return nil
    }

    /// Inserts jobs from `start` until one finds its queue full; returns where it stopped.
    mutating func insert(_ jobs: [NewJob], from start: Int, into results: inout [EnqueueResult], capacity: Int, now: Date) -> Result<Int, SpoolError> {
        var index = start
        while index < jobs.count {
            let new = jobs[index]
            if let key = new.uniqueKey, let holder = uniqueKeys[key], holder.state.isLive {
                results.append(EnqueueResult(id: holder.id, state: holder.state, existing: true))
                index += 1
                continue
            }
            if self.index[new.id] != nil {
                return .failure(SpoolError(code: .invalidArgument, message: "a job with id \(new.id) already exists", job: new.id))
            }
            if queues[new.queue, default: MemoryQueue()].waiting >= capacity { break }
            let state = new.initialState(now: now)
            let job = MemoryJob(new, state: state)
            self.index[job.id] = job
            queues[new.queue, default: MemoryQueue()].move(from: nil, to: state)
            if state == .scheduled {
                scheduled.insert(ScheduledEntry(runAt: job.runAt, job: job))
            } else {
                queues[new.queue]!.push(job)
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
            let job = top.job
            // Skip stale entries (the job was cancelled, deleted or rescheduled since).
            guard job.state == .scheduled, job.runAt == top.runAt, index[job.id] === job else { continue }
            job.state = .available
            queues[job.queue]!.move(from: .scheduled, to: .available)
            queues[job.queue]!.push(job)
        }
    }

    func hasClaimable(queues names: [String], now: Date) -> Bool {
        for name in names where !paused.contains(name) {
            if let queue = queues[name], queue.counts[JobState.available.ordinal] > 0 { return true }
        }
        if let top = scheduled.min, top.runAt <= now, names.contains(top.job.queue) { return true }
        return false
    }

    mutating func claim(_ request: ClaimRequest, now: Date) -> [ClaimedJob] {
        promoteDue(now: now)
        var claimed: [ClaimedJob] = []
        claimed.reserveCapacity(request.limit)
        let expiry = now.adding(request.lease)
        for demand in request.demands where demand.limit > 0 && !paused.contains(demand.queue) && claimed.count < request.limit {
            guard var queue = queues[demand.queue], queue.counts[JobState.available.ordinal] > 0 else { continue }
            queues[demand.queue] = nil  // take it out so the lanes are uniquely referenced
            var taken = 0
            var priorityIndex = 0
            let allowed = min(demand.limit, request.limit - claimed.count)
            while taken < allowed && priorityIndex < queue.priorities.count {
                let priority = queue.priorities[priorityIndex]
                guard let job = queue.lanes[priority]?.popFirst() else {
                    priorityIndex += 1
                    continue
                }
                // Lanes may hold stale entries of cancelled or deleted jobs.
                guard job.state == .available, index[job.id] === job else { continue }
                job.state = .running
                job.attempt += 1
                job.attemptedAt = now.timeIntervalSince1970
                queue.move(from: .available, to: .running)
                running[job.id] = RunningLease(job: job, owner: request.worker, expiresAt: expiry)
                claimed.append(job.claimed())
                taken += 1
            }
            queues[demand.queue] = queue
        }
        return claimed
    }

    struct FinishChanges {
        var madeAvailable = false
        var finished = false
    }

    mutating func finish(_ completions: [JobCompletion], worker: String) -> ([JobID], FinishChanges) {
        var lost: [JobID] = []
        var changes = FinishChanges()
        for completion in completions {
            guard let lease = running[completion.id], lease.owner == worker,
                  let next = JobStateMachine.next(from: .running, on: completion.event) else {
                lost.append(completion.id)
                continue
            }
            running[completion.id] = nil
            let job = lease.job
            job.extra?.expiredLeases = 0
            switch completion.outcome {
            case .succeeded(let result):
                if let result { job.extras().result = result }
            case .retry(let at, let error):
                job.recordError(error)
                job.runAt = at
            case .snooze(let until):
                job.attempt -= 1
                job.runAt = until
            case .dead(let error):
                job.recordError(error)
            case .cancelled(let reason):
                job.recordError(JobAttemptError(attempt: Int(job.attempt), at: completion.at, message: reason, reason: "cancelled"))
            case .handBack:
                job.attempt -= 1
            }
            move(job, to: next, at: completion.at)
            if next == .available { changes.madeAvailable = true }
            if next.isFinished { changes.finished = true }
        }
        return (lost, changes)
    }

    /// Moves `job` to `next`, keeping counts, lanes, the scheduled heap, unique keys and the
    /// finished window in step.
    mutating func move(_ job: MemoryJob, to next: JobState, at now: Date) {
        let previous = job.state
        job.state = next
        queues[job.queue, default: MemoryQueue()].move(from: previous, to: next)
        switch next {
        case .available:
            queues[job.queue]!.push(job)
        case .scheduled:
            scheduled.insert(ScheduledEntry(runAt: job.runAt, job: job))
        case .succeeded, .dead, .cancelled:
            job.finishedAt = now.timeIntervalSince1970
            if let key = job.extra?.uniqueKey, uniqueKeys[key] === job { uniqueKeys[key] = nil }
            finishedOrder.append(job.id)
            trimFinished()
        case .running:
            break
        }
    }

    /// Forgets the oldest finished jobs beyond the retention bound.
    mutating func trimFinished() {
        while finishedOrder.count > finishedLimit, let oldest = finishedOrder.popFirst() {
            if let job = index[oldest], job.state.isFinished { forget(job) }
        }
    }

    mutating func forget(_ job: MemoryJob) {
        index[job.id] = nil
        queues[job.queue]?.move(from: job.state, to: nil)
        if let key = job.extra?.uniqueKey, uniqueKeys[key] === job { uniqueKeys[key] = nil }
    }

    mutating func rescue(now: Date, poisonAfter: Int) -> RescueReport {
        var report = RescueReport()
        let expired = running.values.filter { $0.expiresAt < now }.sorted { $0.job.id < $1.job.id }
        for lease in expired {
            running[lease.job.id] = nil
            let job = lease.job
            let extra = job.extras()
            extra.expiredLeases += 1
            job.recordError(JobAttemptError(
                attempt: Int(job.attempt), at: now,
                message: "the lease of worker '\(lease.owner)' expired (worker crashed or hung)", reason: "lease_expired"
            ))
            if extra.expiredLeases > poisonAfter {
                job.recordError(JobAttemptError(
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
        guard let job = index[id], JobStateMachine.next(from: job.state, on: .manualRetry) != nil else { return false }
        if let key = job.extra?.uniqueKey {
            if let holder = uniqueKeys[key], holder !== job, holder.state.isLive { return false }
            uniqueKeys[key] = job
        }
        job.attempt = 0
        job.runAt = now
        job.extra?.expiredLeases = 0
        job.finishedAt = .nan
        move(job, to: .available, at: now)
        return true
    }

    mutating func cancel(_ id: JobID, now: Date) -> Bool {
        guard let job = index[id], JobStateMachine.next(from: job.state, on: .cancel) != nil else { return false }
        running[id] = nil
        job.recordError(JobAttemptError(attempt: Int(job.attempt), at: now, message: "cancelled by request", reason: "cancelled"))
        move(job, to: .cancelled, at: now)
        return true
    }

    mutating func delete(_ id: JobID) -> Bool {
        guard let job = index[id] else { return false }
        running[id] = nil
        forget(job)
        // Lanes and the heap drop the stale entry when they reach it.
        job.state = .cancelled
        return true
    }

    mutating func prune(before: Date, limit: Int) -> Int {
        var pruned = 0
        var kept = Deque<JobID>()
        while let id = finishedOrder.popFirst() {
            guard let job = index[id], job.state.isFinished else { continue }
            if pruned < limit && job.finishedAt < before.timeIntervalSince1970 {
                forget(job)
                pruned += 1
            } else {
                kept.append(id)
            }
        }
        finishedOrder = kept
        return pruned
    }
}

extension JobState {
    /// A dense index for per-state counters.
    var ordinal: Int {
        switch self {
        case .scheduled: return 0
        case .available: return 1
        case .running: return 2
        case .succeeded: return 3
        case .dead: return 4
        case .cancelled: return 5
        }
    }
}
