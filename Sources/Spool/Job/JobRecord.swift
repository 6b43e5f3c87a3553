import Foundation

/// The error of one failed attempt, kept in a job's history.
public struct JobAttemptError: Sendable, Codable, Hashable {
    /// The attempt that failed (1 for the first run).
    public var attempt: Int
    /// When the failure was recorded.
    public var at: Date
    /// What went wrong, as the handler's error described itself.
    public var message: String
    /// A short classification: `error`, `timeout`, `permanent`, `unknown_kind`,
    /// `undecodable_payload`, `lease_expired`, `poison`, `cancelled`; `unreadable` for a stored
    /// history a driver could not read back (its message quotes the start of what was stored).
    public var reason: String

    public init(attempt: Int, at: Date, message: String, reason: String = "error") {
        self.attempt = attempt
        self.at = at
        self.message = message
        self.reason = reason
    }

    /// How many errors a job keeps; older ones are dropped first.
    public static let historyLimit = 20
}

/// A job's progress as last reported by its handler.
public struct JobProgress: Sendable, Codable, Hashable {
    /// From 0 to 1.
    public var fraction: Double
    /// An optional note ("resized 3 of 8 images").
    public var message: String?

    public init(fraction: Double, message: String? = nil) {
        self.fraction = min(1, max(0, fraction))
        self.message = message
    }
}

/// Everything stored about one job, as the inspection API returns it.
public struct JobRecord: Sendable {
    public var id: JobID
    public var queue: String
    /// The registered job name that picks the handler.
    public var kind: String
    public var payload: JobPayload
    /// Higher runs first within a queue.
    public var priority: Int
    public var state: JobState
    /// How many times the job has been claimed (1 while its first run is under way).
    public var attempt: Int
    public var maxAttempts: Int
    /// When the job may run (its creation time, a delay, or a retry's backoff).
    public var runAt: Date
    public var createdAt: Date
    /// When the last attempt started.
    public var attemptedAt: Date?
    /// When the job reached a final state.
    public var finishedAt: Date?
    /// The worker holding the lease while `running`.
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    /// The error of each failed attempt, oldest first, at most ``JobAttemptError/historyLimit``.
    public var errors: [JobAttemptError]
    public var uniqueKey: String?
    /// The per-attempt time limit, when set for this job.
    public var timeout: Duration?
    /// The handler's result (JSON), when it returned one.
    public var result: [UInt8]?
    public var progress: JobProgress?
    /// How many times in a row the job's lease expired (reset when an attempt ends normally).
    public var expiredLeases: Int
    /// Trace context and tags.
    public var metadata: [String: String]
    /// The batch the job belongs to.
    public var batch: BatchID?
    /// The jobs it waits for (``NewJob/dependencies``), in id order.
    public var dependencies: [JobID]
    /// What it does when a dependency ends dead or cancelled.
    public var dependencyFailure: DependencyFailure

    public init(
        id: JobID, queue: String, kind: String, payload: JobPayload, priority: Int, state: JobState,
        attempt: Int, maxAttempts: Int, runAt: Date, createdAt: Date, attemptedAt: Date? = nil,
        finishedAt: Date? = nil, leaseOwner: String? = nil, leaseExpiresAt: Date? = nil,
        errors: [JobAttemptError] = [], uniqueKey: String? = nil, timeout: Duration? = nil,
        result: [UInt8]? = nil, progress: JobProgress? = nil, expiredLeases: Int = 0,
        metadata: [String: String] = [:], batch: BatchID? = nil, dependencies: [JobID] = [],
        dependencyFailure: DependencyFailure = .cancel
    ) {
        self.id = id
        self.queue = queue
        self.kind = kind
        self.payload = payload
        self.priority = priority
        self.state = state
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.runAt = runAt
        self.createdAt = createdAt
        self.attemptedAt = attemptedAt
        self.finishedAt = finishedAt
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.errors = errors
        self.uniqueKey = uniqueKey
        self.timeout = timeout
        self.result = result
        self.progress = progress
        self.expiredLeases = expiredLeases
        self.metadata = metadata
        self.batch = batch
        self.dependencies = dependencies
        self.dependencyFailure = dependencyFailure
    }

    /// The last recorded error, if any.
    public var lastError: JobAttemptError? { errors.last }
}

/// A job to be stored: what ``JobEnqueuing/enqueue(_:whenFull:now:)`` takes.
public struct NewJob: Sendable {
    public var id: JobID
    public var queue: String
    public var kind: String
    public var payload: JobPayload
    public var priority: Int
    public var maxAttempts: Int
    /// When it may first run; at or before `createdAt` means at once.
    public var runAt: Date
    public var createdAt: Date
    public var uniqueKey: String?
    public var timeout: Duration?
    public var metadata: [String: String]
    /// The batch the job joins: set by ``JobBatching/enqueueBatch(_:whenFull:now:)``, or by a job of a
    /// running batch that adds jobs to it. The batch must exist and not have finished.
    public var batch: BatchID?
    /// Jobs that must succeed before this one may run: stored jobs, or jobs earlier or later
    /// in the same enqueue. While any has not succeeded the job is ``JobState/pending``. At
    /// most ``JobInput/maximumDependencies``; duplicates count once; the job itself, an unknown
    /// id or a cycle is refused.
    public var dependencies: [JobID]
    /// What the job does when a dependency ends dead or cancelled (default: be cancelled).
    public var dependencyFailure: DependencyFailure

    public init(
        id: JobID = JobID(), queue: String = "default", kind: String, payload: JobPayload,
        priority: Int = 0, maxAttempts: Int = 20, runAt: Date, createdAt: Date,
        uniqueKey: String? = nil, timeout: Duration? = nil, metadata: [String: String] = [:],
        batch: BatchID? = nil, dependencies: [JobID] = [], dependencyFailure: DependencyFailure = .cancel
    ) {
        self.id = id
        self.queue = queue
        self.kind = kind
        self.payload = payload
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.runAt = runAt
        self.createdAt = createdAt
        self.uniqueKey = uniqueKey
        self.timeout = timeout
        self.metadata = metadata
        self.batch = batch
        self.dependencies = dependencies
        self.dependencyFailure = dependencyFailure
    }

    /// True when the job uses batches or dependencies (which only a ``JobBatching`` driver
    /// keeps).
    public var usesWorkflows: Bool { batch != nil || !dependencies.isEmpty }

    /// The state the job starts in: `scheduled` when its run-at time is in the future.
    public func initialState(now: Date) -> JobState {
        runAt > now ? .scheduled : .available
    }

    /// Checks what a driver must refuse (see ``JobInput``): names that are empty, too long, hold
    /// control characters or are not in NFC; run-at times outside 1970...9999; attempts below
    /// one; timeouts that are not positive or longer than ``JobInput/maximumDuration``.
    /// - Throws: ``SpoolError`` `invalidArgument` naming the field.
    public func validate() throws {
        guard try normalizedIfNeeded() == nil else {
            throw SpoolError.invalid(
                "a job's names must be in Unicode NFC (kind '\(kind)', queue '\(queue)'): enqueue through SpoolClient, or call validated()")
        }
    }

    /// This job with its names in Unicode NFC, once every rule of ``validate()`` holds: what
    /// every driver stores, so two spellings of one name are one name.
    /// - Throws: ``SpoolError`` `invalidArgument` naming the field.
    public func validated() throws -> NewJob {
        try normalizedIfNeeded() ?? self
    }

    /// Checks every rule of ``validate()``; returns nil when the job keeps them as it is (the
    /// common case: no copy), else the job with its names in NFC.
    /// - Throws: ``SpoolError`` `invalidArgument` naming the field.
    func normalizedIfNeeded() throws -> NewJob? {
        let kind = try JobInput.normalizedName(self.kind, field: "kind")
        let queue = try JobInput.normalizedName(self.queue, field: "queue")
        let uniqueKey = try self.uniqueKey.flatMap { try JobInput.normalizedName($0, field: "unique_key") }
        try checkNumbers()
        if kind == nil && queue == nil && uniqueKey == nil { return nil }
        var job = self
        if let kind { job.kind = kind }
        if let queue { job.queue = queue }
        if let uniqueKey { job.uniqueKey = uniqueKey }
        return job
    }

    /// The rules of ``validate()`` for everything but the names.
    private func checkNumbers() throws {
        _ = try JobInput.runAt(runAt, field: "run_at")
        guard maxAttempts >= 1 else {
            throw SpoolError.invalid("max_attempts must be at least 1 (got \(maxAttempts)) for kind '\(kind)'")
        }
        guard maxAttempts <= JobInput.maximumAttempts else {
            throw SpoolError.invalid("max_attempts must be at most \(JobInput.maximumAttempts) (got \(maxAttempts)) for kind '\(kind)'")
        }
        guard JobInput.priorityRange.contains(priority) else {
            throw SpoolError.invalid(
                "priority must be from \(JobInput.priorityRange.lowerBound) to \(JobInput.priorityRange.upperBound) (got \(priority)) for kind '\(kind)'"
            )
        }
        if let timeout { _ = try JobInput.duration(timeout, field: "timeout") }
        if !dependencies.isEmpty {
            guard dependencies.count <= JobInput.maximumDependencies else {
                throw SpoolError.invalid(
                    "depends_on may name at most \(JobInput.maximumDependencies) jobs (got \(dependencies.count)) for kind '\(kind)'")
            }
            guard !dependencies.contains(id) else {
                throw SpoolError(code: .invalidArgument, message: "depends_on names the job itself (\(id))", job: id)
            }
        }
    }
}

/// What an enqueue did with one job.
public struct EnqueueResult: Sendable, Hashable {
    /// The id of the stored job: the new one, or the live job that already holds the unique key.
    public var id: JobID
    /// The state of that job right after the enqueue.
    public var state: JobState
    /// True when no job was stored because a live job already held the unique key.
    public var existing: Bool

    public init(id: JobID, state: JobState, existing: Bool) {
        self.id = id
        self.state = state
        self.existing = existing
    }
}

/// A job a worker has claimed: the parts a handler run needs.
///
/// Immutable and shared by reference: the worker's buffer, the handler's context and the
/// middleware's report all point at one copy.
public final class ClaimedJob: Sendable {
    public let id: JobID
    public let queue: String
    public let kind: String
    public let payload: JobPayload
    public let priority: Int
    /// This run's attempt number (1 for the first run).
    public let attempt: Int
    public let maxAttempts: Int
    public let createdAt: Date
    /// When the job became due (its run-at time), for queue-latency measurement.
    public let runAt: Date
    public let timeout: Duration?
    public let metadata: [String: String]
    /// The batch the job belongs to.
    public let batch: BatchID?

    public init(
        id: JobID, queue: String, kind: String, payload: JobPayload, priority: Int, attempt: Int,
        maxAttempts: Int, createdAt: Date, runAt: Date, timeout: Duration?, metadata: [String: String],
        batch: BatchID? = nil
    ) {
        self.id = id
        self.queue = queue
        self.kind = kind
        self.payload = payload
        self.priority = priority
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.createdAt = createdAt
        self.runAt = runAt
        self.timeout = timeout
        self.metadata = metadata
        self.batch = batch
    }
}

/// How one run of a job ended, as a worker reports it to storage.
public struct JobCompletion: Sendable {
    public enum Outcome: Sendable {
        /// The handler returned (with an optional JSON result).
        case succeeded(result: [UInt8]?)
        /// The attempt failed; run again at the given time.
        case retry(at: Date, error: JobAttemptError)
        /// Run again at the given time without spending an attempt.
        case snooze(until: Date)
        /// Failed for good.
        case dead(error: JobAttemptError)
        /// Cancelled while running.
        case cancelled(reason: String)
        /// Not finished: the worker gives the lease back (shutdown); no attempt is spent.
        case handBack
    }

    public var id: JobID
    public var outcome: Outcome
    /// When the outcome was decided.
    public var at: Date

    public init(id: JobID, outcome: Outcome, at: Date) {
        self.id = id
        self.outcome = outcome
        self.at = at
    }

    /// The event this outcome is in the job state machine.
    public var event: JobEvent {
        switch outcome {
        case .succeeded: return .succeed
        case .retry: return .retry
        case .snooze: return .snooze
        case .dead: return .die
        case .cancelled: return .cancel
        case .handBack: return .handBack
        }
    }
}

/// A heartbeat for one running job: extends its lease and carries its latest progress.
public struct JobHeartbeat: Sendable {
    public var id: JobID
    public var progress: JobProgress?

    public init(id: JobID, progress: JobProgress? = nil) {
        self.id = id
        self.progress = progress
    }
}
