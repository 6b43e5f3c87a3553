import Foundation

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

/// What a worker's ``JobLeasing/finish(_:worker:)`` or ``JobLeasing/heartbeat(_:worker:lease:now:)``
/// found: the jobs whose lease the worker no longer holds.
///
/// A lease is lost when it expired and the job was rescued (another worker may be running it),
/// or the job was cancelled or deleted. Nothing was written for a lost job: no outcome, no
/// extended lease, no progress. The worker stops a lost job's handler (after a heartbeat) or
/// drops its outcome (after a finish) and logs it; it never retries the write.
///
/// Unlike the ids that ``JobControlling/retry(_:now:)`` or ``JobControlling/cancel(_:now:)``
/// return (the jobs that *were* changed), these are the jobs that were *not*. Wrapping the
/// array costs nothing: the report is the array.
public struct LeaseReport: Sendable, Hashable {
    /// The ids, among those the worker sent, whose lease it no longer holds; empty when every
    /// lease was held. In no particular order; an id sent twice may appear twice.
    public var lost: [JobID]

    public init(lost: [JobID] = []) {
        self.lost = lost
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

/// The worker path of a storage: claiming due jobs under a lease, keeping the lease, recording
/// how runs ended, and returning the jobs of crashed workers.
///
/// Called by ``Worker`` (and the HTTP worker protocol of `SpoolServer`) on the hot path: every
/// job passes through `claim` and `finish` once per attempt, so each call takes a batch and a
/// driver should answer it in one statement or script. `rescueExpired` is called by one process
/// at a time (a worker, or the leader of ``ClusterMaintenance``).
///
/// A driver guarantees:
/// - A claim moves each job it returns to `running` atomically, with a lease owned by the
///   claiming worker; two claims never return the same job.
/// - `finish` and `heartbeat` change a job only while the caller still holds its lease, and
///   report the others in ``LeaseReport/lost``.
public protocol JobLeasing: Sendable {
    /// Claims due jobs: for each demand in order, up to its limit (and `request.limit` in all),
    /// highest priority first, then
    /// earliest run-at, then lowest id. Scheduled jobs whose time has come are claimable.
    /// Paused queues yield nothing; a queue with ``QueueLimits`` yields no more than its limits
    /// allow at `now` (counting every worker's running jobs and starts), and each claim is
    /// counted as a start for its rate. Each claimed job is `running`, its attempt incremented, its
    /// lease owned by `request.worker` until `now + request.lease`.
    func claim(_ request: ClaimRequest, now: Date) async throws -> [ClaimedJob]

    /// Records how runs ended. An outcome is written only while `worker` holds the job's lease.
    /// - Returns: the ids whose lease was lost (expired and rescued, cancelled, deleted); nothing
    ///   is written for them.
    func finish(_ completions: [JobCompletion], worker: String) async throws -> LeaseReport

    /// Extends the leases `worker` holds to `now + lease` and stores reported progress.
    /// - Returns: the ids whose lease `worker` no longer holds (the worker should stop them).
    func heartbeat(_ beats: [JobHeartbeat], worker: String, lease: Duration, now: Date) async throws -> LeaseReport

    /// Returns running jobs whose lease expired before `now` to `available` (no attempt is given
    /// back: the crashed run counted), or to `dead` when their lease has now expired more than
    /// `poisonAfter` times in a row.
    func rescueExpired(now: Date, poisonAfter: Int) async throws -> RescueReport

    /// Suspends until a job may be claimable in one of `queues`, `deadline` passes, or the task
    /// is cancelled. Returns early rather than late: a spurious return only costs one claim.
    /// Drivers push (the enqueue wakes the waiter); they do not poll per job. A queue at one of
    /// its ``QueueLimits`` counts as having no work until the limit reopens.
    func waitForWork(queues: [String], deadline: Date, clock: any JobClock) async
}
