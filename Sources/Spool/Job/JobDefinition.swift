import Foundation
import Logging
import Synchronization

/// The parameters of a job kind: a `Codable & Sendable` type named by a stable `kind`.
///
/// ```swift
/// struct SendWelcomeEmail: JobParameters {
///     static let kind = "send-welcome-email"
///     var userID: Int
/// }
/// ```
/// The kind is what storage records; renaming it strands the jobs already stored.
public protocol JobParameters: Codable, Sendable {
    /// The registered name of this job kind.
    static var kind: String { get }
}

/// How jobs of one kind are run unless an enqueue says otherwise.
public struct JobOptions: Sendable {
    /// The queue jobs go to. Default `default`.
    public var queue: String
    /// Higher runs first within a queue. Default 0.
    public var priority: Int
    /// The most runs a job gets before it is `dead`. Default 20.
    public var maxAttempts: Int
    /// The wait between failed attempts. Default `.exponential()`.
    public var retry: RetryStrategy
    /// The time limit of one attempt, enforced through cancellation; nil for none (the default).
    public var timeout: Duration?
    /// The lane whose threads run this kind's handlers (CPU-heavy or blocking work), so they
    /// never hold the shared cooperative pool that every other job (and the worker itself)
    /// needs; nil runs them on the cooperative pool (the default). A queue's lane
    /// (``WorkerQueue/lane``) applies when the kind names none.
    public var lane: BlockingPool?

    public init(
        queue: String = "default", priority: Int = 0, maxAttempts: Int = 20,
        retry: RetryStrategy = .default, timeout: Duration? = nil, lane: BlockingPool? = nil
    ) {
        self.queue = queue
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.retry = retry
        self.timeout = timeout
        self.lane = lane
    }
}

/// What a handler is given besides its parameters.
public struct JobContext: Sendable {
    /// The job's id.
    public let id: JobID
    /// The job's kind.
    public let kind: String
    /// The queue it was claimed from.
    public let queue: String
    /// This run's attempt (1 for the first).
    public let attempt: Int
    /// The job's attempt budget.
    public let maxAttempts: Int
    /// When the job was enqueued.
    public let enqueuedAt: Date
    /// Trace context and tags given at enqueue.
    public let metadata: [String: String]
    /// When this attempt started (on the worker's clock).
    public let startedAt: Date
    /// When the job became due; `startedAt - dueAt` is its queue latency.
    public let dueAt: Date
    /// The batch the job belongs to, or, for a batch's callback job, the batch it reports on
    /// (read its counts and jobs with ``SpoolClient/batch(_:)``). A job of a running batch may
    /// add jobs to it: enqueue them with ``EnqueueOptions/batch`` set to this.
    public let batch: BatchID?
    /// For a batch's callback job, what fired it; nil for other jobs.
    public let batchEvent: BatchEvent?
    let baseLogger: Logger
    let progressSink: (any JobProgressSink)?
    /// The worker's runner slot running the job (where its progress is kept).
    let slot: Int

    init(job: ClaimedJob, logger: Logger, progressSink: (any JobProgressSink)?, slot: Int, startedAt: Date) {
        self.slot = slot
        self.startedAt = startedAt
        dueAt = job.runAt
        id = job.id
        kind = job.kind
        queue = job.queue
        attempt = job.attempt
        maxAttempts = job.maxAttempts
        enqueuedAt = job.createdAt
        metadata = job.metadata
        if let batch = job.batch {
            self.batch = batch
            batchEvent = nil
        } else if !job.metadata.isEmpty, let text = job.metadata[BatchCallbacks.batchKey], let batch = BatchID(text) {
            self.batch = batch
            batchEvent = job.metadata[BatchCallbacks.eventKey].flatMap(BatchEvent.init(rawValue:))
        } else {
            batch = nil
            batchEvent = nil
        }
        baseLogger = logger
        self.progressSink = progressSink
    }

    /// A logger carrying `spool.job.id`, `spool.job.kind`, `spool.queue` and `spool.attempt`.
    /// Built when first asked for, so handlers that do not log pay nothing.
    public var logger: Logger {
        var logger = baseLogger
        logger[metadataKey: "spool.job.id"] = "\(id)"
        logger[metadataKey: "spool.job.kind"] = "\(kind)"
        logger[metadataKey: "spool.queue"] = "\(queue)"
        logger[metadataKey: "spool.attempt"] = "\(attempt)"
        return logger
    }

    /// Records the job's progress (0...1, with an optional note). Stored with the next heartbeat,
    /// so it shows in the inspection API within a heartbeat interval. Cheap: no I/O here.
    public func reportProgress(_ fraction: Double, message: String? = nil) {
        progressSink?.report(JobProgress(fraction: fraction, message: message), for: id, slot: slot)
    }
}

/// Where `JobContext.reportProgress` goes (the worker's table of running jobs).
protocol JobProgressSink: Sendable {
    func report(_ progress: JobProgress, for id: JobID, slot: Int)
}

/// Thrown by a handler to fail the job for good: it goes to `dead` at once, whatever attempts
/// remain.
public struct PermanentFailure: Error, Sendable, CustomStringConvertible {
    /// Why the job cannot succeed.
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    /// Wraps another error as permanent.
    public init(_ error: any Error) {
        self.reason = "\(error)"
    }

    public var description: String { reason }
}

/// Thrown by a handler to run the job again after `delay` without spending an attempt (for
/// "not yet": a resource is busy, a rate limit applies).
public struct Snooze: Error, Sendable, CustomStringConvertible {
    public let delay: Duration

    public init(for delay: Duration) {
        self.delay = delay
    }

    public var description: String { "snoozed for \(delay)" }
}

/// A registered job kind: how to run it and with which defaults.
///
/// A class: workers pass it along for every job they run, and a reference costs one retain
/// where a struct of this size costs several.
public final class RegisteredJob: Sendable {
    public let kind: String
    public let options: JobOptions
    /// Decodes the payload and runs the handler; returns the encoded result, if any.
    let run: @Sendable (JobPayload, JobContext) async throws -> [UInt8]?

    @usableFromInline
    init(kind: String, options: JobOptions, run: @escaping @Sendable (JobPayload, JobContext) async throws -> [UInt8]?) {
        self.kind = kind
        self.options = options
        self.run = run
    }
}

/// The job kinds a process knows: each kind's handler and options.
///
/// Register before workers start; a worker reads the registry when it starts. Registering a
/// kind twice replaces the earlier handler.
public final class JobRegistry: Sendable {
    private let handlers = Mutex<[String: RegisteredJob]>([:])

    public init() {}

    @usableFromInline
    func store(_ job: RegisteredJob) {
        handlers.withLock { $0[job.kind] = job }
    }

    // The typed `register`s are inlinable so that the handler closure is compiled for the
    // concrete parameters type in the caller's module: decoding an in-process payload is then a
    // type check, not a generic cast.

    /// Registers the handler of `P`'s kind.
    @inlinable
    public func register<P: JobParameters>(
        _ type: P.Type, options: JobOptions = JobOptions(),
        handler: @escaping @Sendable (P, JobContext) async throws -> Void
    ) {
        let job = RegisteredJob(kind: P.kind, options: options) { payload, context in
            let parameters = try payload.decode(as: P.self)
            try await handler(parameters, context)
            return nil
        }
        store(job)
    }

    /// Registers the handler of `P`'s kind whose return value is stored as the job's result
    /// (JSON).
    @inlinable
    public func register<P: JobParameters, R: Encodable & Sendable>(
        _ type: P.Type, options: JobOptions = JobOptions(),
        handler: @escaping @Sendable (P, JobContext) async throws -> R
    ) {
        let job = RegisteredJob(kind: P.kind, options: options) { payload, context in
            let parameters = try payload.decode(as: P.self)
            let result = try await handler(parameters, context)
            return try JobPayload(value: result).encoded()
        }
        store(job)
    }

    /// Registers a handler of raw payload bytes for `kind` (a kind with no Swift type, such as
    /// one enqueued over HTTP).
    public func register(
        kind: String, options: JobOptions = JobOptions(),
        handler: @escaping @Sendable (JobPayload, JobContext) async throws -> [UInt8]?
    ) {
        store(RegisteredJob(kind: kind, options: options, run: handler))
    }

    /// The registration of `kind`, if any.
    public func job(kind: String) -> RegisteredJob? {
        handlers.withLock { $0[kind] }
    }

    /// Every registration, by kind.
    public var all: [String: RegisteredJob] {
        handlers.withLock { $0 }
    }
}
