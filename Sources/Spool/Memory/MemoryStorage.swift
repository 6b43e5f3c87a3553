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

    /// Runs `body` on the store under its lock. Jobs the store forgot meanwhile are freed after
    /// the lock is released, so the other threads wait for none of that.
    private func withStore<T>(_ body: (inout Store) throws -> T) rethrows -> T {
        let (result, forgotten) = try state.withLock { store in
            let result = try body(&store)
            return (result, store.takeForgotten())
        }
        withExtendedLifetime(forgotten) {}
        return result
    }

    /// A memory store whose queues hold `capacity` waiting jobs each.
    public convenience init(capacity: Int) {
        self.init(Configuration(capacity: capacity))
    }

    // MARK: Enqueue

    public func enqueue(_ jobs: [NewJob], whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        for job in jobs { try job.validate() }
        // Refuse a batch with a duplicate id before storing any of it (ids already stored are
        // checked under the lock, before the first insert).
        if jobs.count > 1 {
            var ids = Set<JobID>(minimumCapacity: jobs.count)
            for job in jobs where !ids.insert(job.id).inserted {
                throw SpoolError(code: .invalidArgument, message: "the batch holds job id \(job.id) twice", job: job.id)
            }
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
        return taken.map { $0.job.claimed(attempt: $0.attempt, runAt: $0.runAt, extra: $0.extra) }
    }

    public func finish(_ completions: [JobCompletion], worker: String) async throws -> [JobID] {
        let (lost, changes) = withStore { store in
            store.finish(completions, worker: worker)
        }
        if changes.madeAvailable || changes.freedLimitedSlot { workSignal.signal() }
        if changes.finished { finishSignal.signal() }
        return lost
    }

    public func heartbeat(_ beats: [JobHeartbeat], worker: String, lease: Duration, now: Date) async throws -> [JobID] {
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
            return lost
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
            ids.filter { store.delete($0) }
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

// MARK: - The store behind the lock

/// A kind name shared by every job of the kind (one reference instead of a string per job).
final class MemoryKind: @unchecked Sendable {
    let name: String
    init(_ name: String) { self.name = name }
}

/// One job as the memory driver keeps it: the hot fields packed inline (its lease among them,
/// so claims and outcomes hash nothing), the rest in `extra`, allocated only for jobs that need
/// it. About 180 bytes per waiting job, index included (`spool bench` prints it). The creation
/// time is the id's (to the millisecond); attempt and finish times are centiseconds after it.
final class MemoryJob: @unchecked Sendable {
    // The `var`s are only touched under the store's lock; the `let`s are read outside it too
    // (a claim builds its `ClaimedJob`s after unlocking). The order packs the small fields.
    let id: JobID
    let home: MemoryQueue
    let kindRef: MemoryKind
    let payload: JobPayload
    var state: JobState
    var attempt: UInt16
    let maxAttempts: UInt16
    let priority: Int16
    /// Centiseconds after creation when the last attempt started / the job finished; 0 = never.
    var attemptedStamp: UInt32 = 0
    var finishedStamp: UInt32 = 0
    var runAt: Date
    /// The worker holding the lease, and when the lease expires: set by each claim, and
    /// meaningful only while the job is running (nothing reads them in another state).
    var leaseOwner: String?
    var leaseExpiry = Date.distantPast
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

    init(_ new: NewJob, home: MemoryQueue, kind: MemoryKind, state: JobState) {
        id = new.id
        self.home = home
        kindRef = kind
        payload = new.payload
        priority = Int16(clamping: new.priority)
        self.state = state
        attempt = 0
        maxAttempts = UInt16(clamping: new.maxAttempts)
        runAt = new.runAt
        if new.uniqueKey != nil || new.timeout != nil || !new.metadata.isEmpty {
            let extra = Extra()
            extra.uniqueKey = new.uniqueKey
            extra.timeout = new.timeout
            extra.metadata = new.metadata
            self.extra = extra
        }
    }

    var queue: String { home.name }
    var kind: String { kindRef.name }
    var createdAt: Date { id.date }

    func stamp(_ date: Date) -> UInt32 {
        let centiseconds = (date.timeIntervalSince(createdAt) * 100).rounded(.up)
        return UInt32(clamping: max(1, Int64(saturating: centiseconds)))
    }

    func date(ofStamp stamp: UInt32) -> Date? {
        stamp == 0 ? nil : createdAt.addingTimeInterval(Double(stamp) / 100)
    }

    func extras() -> Extra {
        if let extra { return extra }
        let extra = Extra()
        self.extra = extra
        return extra
    }

    func record() -> JobRecord {
        JobRecord(
            id: id, queue: queue, kind: kind, payload: payload, priority: Int(priority), state: state,
            attempt: Int(attempt), maxAttempts: Int(maxAttempts), runAt: runAt, createdAt: createdAt,
            attemptedAt: date(ofStamp: attemptedStamp), finishedAt: date(ofStamp: finishedStamp),
            leaseOwner: state == .running ? leaseOwner : nil, leaseExpiresAt: state == .running ? leaseExpiry : nil,
            errors: extra?.errors ?? [],
            uniqueKey: extra?.uniqueKey, timeout: extra?.timeout, result: extra?.result,
            progress: extra?.progress, expiredLeases: extra?.expiredLeases ?? 0, metadata: extra?.metadata ?? [:]
        )
    }

    /// The job as claimed, from its mutable fields as read under the store's lock (the rest
    /// never change after the enqueue: timeout and metadata live in `extra` from the start).
    func claimed(attempt: UInt16, runAt: Date, extra: Extra?) -> ClaimedJob {
        ClaimedJob(
            id: id, queue: queue, kind: kind, payload: payload, priority: Int(priority), attempt: Int(attempt),
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

/// A queue's waiting jobs, by priority (highest first), each priority in arrival order, and its
/// counts by state. A class so jobs can point at their queue without a name lookup.
final class MemoryQueue: @unchecked Sendable {
    let name: String
    /// One lane per priority, highest priority first; each lane in arrival order.
    var lanes: [(priority: Int16, jobs: Deque<MemoryJob>)] = []
    /// Jobs of this queue in each state (indexed by `JobState.ordinal`).
    var counts = [Int](repeating: 0, count: JobState.allCases.count)
    /// Flow control (``QueueLimits``), and the starts of the current rate window, oldest first.
    var limits = QueueLimits.none
    var starts = Deque<(at: Date, count: Int)>()

    init(_ name: String) { self.name = name }

    /// What the limits allow a claim at `now` (dropping starts that left the window); nil
    /// without limits.
    func allowance(now: Date) -> QueueAllowance? {
        guard !limits.isNone else { return nil }
        if let rate = limits.rate {
            let windowStart = now.adding(.zero - rate.period)
            while let first = starts.first, first.at <= windowStart { starts.removeFirst() }
        }
        return QueueAllowance(limits: limits, running: counts[JobState.running.ordinal], startsInWindow: Array(starts))
    }

    var waiting: Int { counts[JobState.available.ordinal] + counts[JobState.scheduled.ordinal] }

    func push(_ job: MemoryJob) {
        // Few priorities are in use: a short scan beats hashing.
        var index = 0
        while index < lanes.count && lanes[index].priority > job.priority { index += 1 }
        if index == lanes.count || lanes[index].priority != job.priority {
            lanes.insert((job.priority, Deque()), at: index)
        }
        lanes[index].jobs.append(job)
    }

    /// The next waiting job: highest priority, then arrival order. Skips stale entries (jobs
    /// cancelled or deleted while waiting, which are left in place and dropped here).
    func popAvailable() -> MemoryJob? {
        for index in lanes.indices {
            while let job = lanes[index].jobs.popFirst() {
                if job.state == .available { return job }
            }
        }
        return nil
    }

    func move(from old: JobState?, to new: JobState?) {
        if let old { counts[old.ordinal] -= 1 }
        if let new { counts[new.ordinal] += 1 }
    }
}

/// A scheduled job in the time-ordered heap (earliest run-at, then lowest id).
struct ScheduledEntry: Comparable {
    let runAt: Date
    let job: MemoryJob
    static func < (lhs: ScheduledEntry, rhs: ScheduledEntry) -> Bool {
        (lhs.runAt, lhs.job.id) < (rhs.runAt, rhs.job.id)
    }
    static func == (lhs: ScheduledEntry, rhs: ScheduledEntry) -> Bool {
        lhs.runAt == rhs.runAt && lhs.job === rhs.job
    }
    /// An entry whose job has since moved on (cancelled, deleted, rescheduled) is stale.
    var isCurrent: Bool { job.state == .scheduled && job.runAt == runAt }
}

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
    mutating func insert(_ jobs: [NewJob], from start: Int, into results: inout [EnqueueResult], capacity: Int, now: Date) -> Result<Int, SpoolError> {
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
                return .failure(SpoolError(code: .invalidArgument, message: "job id \(job.id) collides with stored job \(previous.id)", job: job.id))
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
                claimed.append(Taken(job: job, attempt: job.attempt, runAt: job.runAt, extra: job.extra))
                taken += 1
            }
            if taken > 0, queue.limits.rate != nil { queue.starts.append((now, taken)) }
        }
        return claimed
    }

    struct FinishChanges {
        var madeAvailable = false
        var finished = false
        /// A job of a queue with a max-running limit stopped running.
        var freedLimitedSlot = false
    }

    mutating func finish(_ completions: [JobCompletion], worker: String) -> ([JobID], FinishChanges) {
        var lost: [JobID] = []
        var changes = FinishChanges()
        for completion in completions {
            guard let job = leased(completion.id, to: worker),
                  let next = JobStateMachine.next(from: .running, on: completion.event) else {
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
            if next.isFinished { changes.finished = true }
            if job.home.limits.maxRunning != nil { changes.freedLimitedSlot = true }
        }
        return (lost, changes)
    }

    /// Moves `job` to `next`, keeping counts, lanes, the scheduled heap, unique keys and the
    /// finished window in step.
    mutating func move(_ job: MemoryJob, to next: JobState, at now: Date) {
        job.home.move(from: job.state, to: next)
        job.state = next
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
        case .running:
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
            job.recordError(JobAttemptError(
                attempt: Int(job.attempt), at: now,
                message: "the lease of worker '\(owner)' expired (worker crashed or hung)", reason: "lease_expired"
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

    mutating func delete(_ id: JobID) -> Bool {
        guard let job = lookup(id) else { return false }
        forget(job)
        // Lanes and the heap drop the stale entry when they reach it.
        job.state = .cancelled
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
