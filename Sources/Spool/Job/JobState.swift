/// Where a job is in its life. Every driver stores exactly these states.
public enum JobState: String, Sendable, Codable, CaseIterable, Hashable {
    /// Waiting for the jobs it depends on (``NewJob/dependencies``): not claimable. Leaves for
    /// `available` (or `scheduled`, when its run-at time is still ahead) once every dependency
    /// has succeeded, or for `cancelled` when one ends dead or cancelled (unless the job asked
    /// to run anyway, ``DependencyFailure/run``), or by an operator.
    case pending
    /// Waiting for its run-at time (a delayed job, or a retry waiting out its backoff).
    /// Leaves for `available` when due (the claim or a promoter), or `cancelled` by an operator.
    case scheduled
    /// Due and waiting for a worker. Leaves for `running` when a worker claims it, or
    /// `cancelled` by an operator.
    case available
    /// Claimed by a worker that holds its lease. Only that worker moves it on (to `succeeded`,
    /// `scheduled`, `dead`, `cancelled`, or back to `available` when it hands the lease back),
    /// except the rescuer, which returns it to `available` (or `dead`, for a poison job) once the
    /// lease has expired.
    case running
    /// Finished without error. Final; pruned after the retention period.
    case succeeded
    /// Failed for good: attempts exhausted, a permanent error, a poison job, an unknown kind or
    /// an undecodable payload. Leaves only by an explicit retry (to `available`).
    case dead
    /// Cancelled by an operator or the handler. Leaves only by an explicit retry.
    case cancelled

    /// True for the states a job can rest in for good (`succeeded`, `dead`, `cancelled`).
    public var isFinished: Bool {
        switch self {
        case .succeeded, .dead, .cancelled: return true
        case .pending, .scheduled, .available, .running: return false
        }
    }

    /// True for the states in which a unique key is held (not yet finished).
    public var isLive: Bool { !isFinished }
}

/// Something that happens to a job; the state machine says where it leads.
public enum JobEvent: String, Sendable, CaseIterable, Hashable {
    /// A scheduled job's run-at time has come.
    case becomeDue
    /// A worker claims the job (spends one attempt).
    case claim
    /// The handler returned.
    case succeed
    /// The handler failed and attempts remain: wait out the backoff.
    case retry
    /// The handler asked to run again later, without spending an attempt.
    case snooze
    /// Attempts exhausted, a permanent error, or a poison job.
    case die
    /// An operator (or the handler) cancelled it.
    case cancel
    /// The lease expired; the rescuer makes it available again.
    case rescue
    /// The worker gives the job back unfinished at shutdown (no attempt spent).
    case handBack
    /// An operator asks for a dead or cancelled job to run again.
    case manualRetry
    /// The last of a pending job's dependencies has succeeded (or ended, for a job that runs
    /// anyway): it may run.
    case release
}

/// The job state machine: the one place that says which moves are legal.
///
/// Pure and cheap (a switch); drivers consult it so every engine refuses the same moves.
public struct JobStateMachine: Sendable {
    public init() {}

    /// The state `event` leads to from `state`, or nil when the move is illegal.
    public static func next(from state: JobState, on event: JobEvent) -> JobState? {
        switch (state, event) {
        case (.scheduled, .becomeDue): return .available
        case (.scheduled, .cancel), (.available, .cancel), (.running, .cancel), (.pending, .cancel): return .cancelled
        // A released job whose run-at time is still ahead is `scheduled` instead (the driver
        // decides, as at enqueue).
        case (.pending, .release): return .available
        case (.available, .claim): return .running
        case (.running, .succeed): return .succeeded
        case (.running, .retry), (.running, .snooze): return .scheduled
        case (.running, .die): return .dead
        case (.running, .rescue), (.running, .handBack): return .available
        case (.dead, .manualRetry), (.cancelled, .manualRetry): return .available
        default: return nil
        }
    }

    /// Like ``next(from:on:)`` but throws a ``SpoolError`` naming the refused move.
    public static func transition(_ state: JobState, on event: JobEvent, job: JobID? = nil) throws -> JobState {
        guard let next = next(from: state, on: event) else {
            throw SpoolError.illegalTransition(from: state, event: event, job: job)
        }
        return next
    }
}
