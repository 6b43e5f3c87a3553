import Foundation

/// What an enqueue does when a bounded queue is full.
public struct WhenFull: Sendable, Hashable {
    enum Value: Sendable, Hashable { case wait, fail }
    let value: Value

    /// Suspend until space frees (backpressure). Cancelling the waiting task ends the wait with
    /// `CancellationError`; nothing is stored.
    public static let wait = WhenFull(value: .wait)
    /// Fail at once with ``SpoolError`` code `queueFull` (the HTTP API answers 503).
    public static let fail = WhenFull(value: .fail)
}

/// One queue's share of a claim.
public struct QueueDemand: Sendable, Hashable {
    public var queue: String
    /// At most this many jobs from this queue.
    public var limit: Int

    public init(queue: String, limit: Int) {
        self.queue = queue
        self.limit = limit
    }
}

/// A worker's request for due jobs.
public struct ClaimRequest: Sendable {
    /// The queues to claim from and how many of each, in the worker's order of preference.
    public var demands: [QueueDemand]
    /// The claiming worker; it owns the leases of what it gets.
    public var worker: String
    /// How long the leases last unless heartbeated.
    public var lease: Duration
    /// The most jobs in all (the worker's free slots); each demand's own limit also applies.
    public var limit: Int

    public init(demands: [QueueDemand], worker: String, lease: Duration, limit: Int? = nil) {
        self.demands = demands
        self.worker = worker
        self.lease = lease
        self.limit = limit ?? demands.reduce(0) { $0.addingReportingOverflow(max(0, $1.limit)).overflow ? .max : $0 + max(0, $1.limit) }
    }
}

/// What a rescue of expired leases did.
public struct RescueReport: Sendable, Hashable {
    /// Jobs made available again.
    public var rescued: [JobID]
    /// Jobs sent to `dead` as poison jobs (their lease expired too many times in a row).
    public var poisoned: [JobID]

    public init(rescued: [JobID] = [], poisoned: [JobID] = []) {
        self.rescued = rescued
        self.poisoned = poisoned
    }
}

/// Which jobs to list.
public struct JobFilter: Sendable, Hashable {
    public var states: Set<JobState>?
    public var queue: String?
    public var kind: String?

    /// - Parameters:
    ///   - states: the states to list; nil for every state.
    ///   - queue: nil for every queue; normalised to Unicode NFC, as stored names are (see
    ///     ``JobInput``), so either spelling of a name finds its jobs.
    ///   - kind: nil for every kind; normalised to NFC like `queue`.
    public init(states: Set<JobState>? = nil, queue: String? = nil, kind: String? = nil) {
        self.states = states
        self.queue = queue?.precomposedStringWithCanonicalMapping
        self.kind = kind?.precomposedStringWithCanonicalMapping
    }

    /// True when `record` passes the filter.
    public func matches(state: JobState, queue: String, kind: String) -> Bool {
        if let states, !states.contains(state) { return false }
        if let wanted = self.queue, wanted != queue { return false }
        if let wanted = self.kind, wanted != kind { return false }
        return true
    }
}

/// A page of a listing: jobs in id order, newest first, and the cursor for the next page.
public struct JobPage: Sendable {
    public var jobs: [JobRecord]
    /// Pass as `after` to get the next page; nil on the last page.
    public var nextCursor: JobID?

    public init(jobs: [JobRecord], nextCursor: JobID?) {
        self.jobs = jobs
        self.nextCursor = nextCursor
    }
}

/// Counts of jobs by queue and state.
public struct StorageStats: Sendable, Hashable {
    /// For each queue, the number of jobs in each state (states with no jobs may be absent).
    public var queues: [String: [JobState: Int]]

    public init(queues: [String: [JobState: Int]] = [:]) {
        self.queues = queues
    }

    /// The number of jobs in `state`, over every queue.
    public func count(_ state: JobState) -> Int {
        queues.values.reduce(0) { $0 + ($1[state] ?? 0) }
    }

    /// The number of jobs in `state` in `queue`.
    public func count(_ state: JobState, queue: String) -> Int {
        queues[queue]?[state] ?? 0
    }
}

/// A storage engine for jobs: the contract every driver (memory, SQLite, PostgreSQL, Redis)
/// fulfils, checked by the conformance suite in `SpoolTesting`.
///
/// Operations are named for what they mean to the queue and take batches, so a SQL driver can do
/// one statement per call and Redis one script. Times come from the caller's clock (`now`
/// arguments) so tests control them.
///
/// Guarantees every driver gives:
/// - `enqueue` returns only once the jobs are stored (committed, for durable drivers).
/// - A claim moves each job it returns to `running` atomically, with a lease owned by the
///   claiming worker; two claims never return the same job.
/// - `finish` and `heartbeat` change a job only while the caller still holds its lease.
public protocol JobStorage: Sendable {
    /// Stores jobs. A job whose unique key is held by a live job (scheduled, available, running)
    /// is not stored; its result names the existing job (`existing == true`).
    ///
    /// - Parameters:
    ///   - jobs: the batch, stored as one (all or nothing, unless `whenFull` waits).
    ///   - whenFull: for bounded drivers, wait for space (a batch larger than the free
    ///     space is stored in parts as space frees) or fail with `queueFull` (then nothing of the
    ///     batch is stored). Unbounded drivers ignore it.
    ///   - now: the enqueue time, stamped on the jobs.
    /// - Returns: one result per job, in order.
    /// - Throws: ``SpoolError`` for invalid jobs (nothing of the batch is stored), `queueFull`.
    ///
    /// A driver checks every job with ``NewJob/validated()`` (the rules of ``JobInput``, errors
    /// naming the field) and stores the names it returns, in NFC, so that two spellings of one
    /// name are one name in every store.
    func enqueue(_ jobs: [NewJob], whenFull: WhenFull, now: Date) async throws -> [EnqueueResult]

    /// Claims due jobs: for each demand in order, up to its limit (and `request.limit` in all),
    /// highest priority first, then
    /// earliest run-at, then lowest id. Scheduled jobs whose time has come are claimable.
    /// Paused queues yield nothing; a queue with ``QueueLimits`` yields no more than its limits
    /// allow at `now` (counting every worker's running jobs and starts), and each claim is
    /// counted as a start for its rate. Each claimed job is `running`, its attempt incremented, its
    /// lease owned by `request.worker` until `now + request.lease`.
    func claim(_ request: ClaimRequest, now: Date) async throws -> [ClaimedJob]

    /// Records how runs ended. An outcome is written only while `worker` holds the job's lease;
    /// the ids whose lease was lost (expired and rescued, cancelled, deleted) are returned and
    /// nothing is written for them.
    func finish(_ completions: [JobCompletion], worker: String) async throws -> [JobID]

    /// Extends the leases `worker` holds to `now + lease` and stores reported progress.
    /// - Returns: the ids whose lease `worker` no longer holds (the worker should stop them).
    func heartbeat(_ beats: [JobHeartbeat], worker: String, lease: Duration, now: Date) async throws -> [JobID]

    /// Returns running jobs whose lease expired before `now` to `available` (no attempt is given
    /// back: the crashed run counted), or to `dead` when their lease has now expired more than
    /// `poisonAfter` times in a row.
    func rescueExpired(now: Date, poisonAfter: Int) async throws -> RescueReport

    /// Suspends until a job may be claimable in one of `queues`, `deadline` passes, or the task
    /// is cancelled. Returns early rather than late: a spurious return only costs one claim.
    /// Drivers push (the enqueue wakes the waiter); they do not poll per job. A queue at one of
    /// its ``QueueLimits`` counts as having no work until the limit reopens.
    func waitForWork(queues: [String], deadline: Date, clock: any JobClock) async

    // MARK: Inspection

    /// The job with `id`, or nil.
    func job(_ id: JobID) async throws -> JobRecord?

    /// Jobs passing `filter`, newest (highest id) first, `limit` at most, starting after the
    /// cursor `after` (the `nextCursor` of the previous page).
    func jobs(_ filter: JobFilter, after: JobID?, limit: Int) async throws -> JobPage

    /// Counts by queue and state.
    func stats() async throws -> StorageStats

    /// Makes dead or cancelled jobs available again with a fresh budget of attempts.
    /// - Returns: the ids that were retried (others were not dead or cancelled, or unknown).
    func retry(_ ids: [JobID], now: Date) async throws -> [JobID]

    /// Cancels jobs that have not finished. A running job is marked cancelled at once and its
    /// worker's lease is void (its outcome will not be written).
    /// - Returns: the ids that were cancelled.
    func cancel(_ ids: [JobID], now: Date) async throws -> [JobID]

    /// Deletes jobs in any state. A running job's worker loses its lease.
    /// - Returns: the ids that existed and were deleted.
    func delete(_ ids: [JobID]) async throws -> [JobID]

    /// Deletes finished jobs (succeeded, dead, cancelled) that finished before `before`, at most
    /// `limit` of them. - Returns: how many were deleted.
    func prune(finishedBefore before: Date, limit: Int) async throws -> Int

    // MARK: Queues

    /// Pauses or resumes a queue: a paused queue keeps accepting jobs but hands none out.
    func setPaused(_ paused: Bool, queue: String) async throws

    /// The paused queues.
    func pausedQueues() async throws -> Set<String>

    /// Sets a queue's flow-control limits for every process sharing the storage
    /// (``QueueLimits/none`` removes them). Claims from then on honour them; jobs already
    /// running are not stopped.
    /// - Throws: ``SpoolError`` `invalidArgument` for limits that fail ``QueueLimits/validate()``.
    func setLimits(_ limits: QueueLimits, queue: String) async throws

    /// The queues that have limits, with them.
    func queueLimits() async throws -> [String: QueueLimits]
}

/// An opt-in power: waiting for a job to finish without polling.
public protocol JobFinishObserving: JobStorage {
    /// Suspends until the job reaches a final state and returns its record; nil if the job does
    /// not exist (or is deleted while waited on). Cancelling the task ends the wait.
    func waitUntilFinished(_ id: JobID) async throws -> JobRecord?
}

extension JobStorage {
    /// Waits for a job to finish: pushed by drivers that observe finishes, otherwise by reading
    /// the job on a backoff that starts at 10 ms and grows to 1 s of real time (not the injected
    /// clock: a manual clock in a test must not stall the wait).
    public func waitForFinish(_ id: JobID) async throws -> JobRecord? {
        if let observing = self as? any JobFinishObserving {
            return try await observing.waitUntilFinished(id)
        }
        var delay = Duration.milliseconds(10)
        while true {
            guard let record = try await job(id) else { return nil }
            if record.state.isFinished { return record }
            try await Task.sleep(for: delay)
            delay = min(.seconds(1), delay * 2)
        }
    }
}
