import Foundation

/// How one enqueue differs from its kind's registered defaults.
public struct EnqueueOptions: Sendable {
    /// The queue; default: the kind's registered queue, else `default`.
    public var queue: String?
    /// Higher runs first; default: the kind's registered priority, else 0.
    public var priority: Int?
    /// Run no earlier than this time.
    public var runAt: Date?
    /// Run no earlier than this long from now (ignored when `runAt` is set).
    public var delay: Duration?
    /// While a live job holds this key, another enqueue with it returns that job instead.
    public var uniqueKey: String?
    /// Default: the kind's registered max attempts, else 20.
    public var maxAttempts: Int?
    /// The per-attempt time limit; default: the kind's registered timeout.
    public var timeout: Duration?
    /// Trace context and tags carried with the job.
    public var metadata: [String: String]
    /// What to do when a bounded queue is full. Default: wait for space.
    public var whenFull: WhenFull
    /// Jobs that must succeed before this one runs (see ``NewJob/dependencies``); until then
    /// it is ``JobState/pending``. Needs a driver that keeps dependencies (``JobBatching``).
    public var dependsOn: [JobID]
    /// What the job does when a dependency ends dead or cancelled. Default: be cancelled.
    public var onDependencyFailure: DependencyFailure
    /// A running batch to add the job to (say, from a handler of one of its jobs:
    /// ``JobContext/batch``).
    public var batch: BatchID?

    public init(
        queue: String? = nil, priority: Int? = nil, runAt: Date? = nil, delay: Duration? = nil,
        uniqueKey: String? = nil, maxAttempts: Int? = nil, timeout: Duration? = nil,
        metadata: [String: String] = [:], whenFull: WhenFull = .wait, dependsOn: [JobID] = [],
        onDependencyFailure: DependencyFailure = .cancel, batch: BatchID? = nil
    ) {
        self.queue = queue
        self.priority = priority
        self.runAt = runAt
        self.delay = delay
        self.uniqueKey = uniqueKey
        self.maxAttempts = maxAttempts
        self.timeout = timeout
        self.metadata = metadata
        self.whenFull = whenFull
        self.dependsOn = dependsOn
        self.onDependencyFailure = onDependencyFailure
        self.batch = batch
    }
}

/// The entry point for producers: enqueues typed jobs and returns handles to await them.
///
/// ```swift
/// let registry = JobRegistry()
/// registry.register(SendWelcomeEmail.self, options: JobOptions(queue: "mail")) { job, context in
///     try await mailer.send(to: job.userID)
/// }
/// let client = SpoolClient(storage: MemoryStorage(), registry: registry)
/// let handle = try await client.enqueue(SendWelcomeEmail(userID: 42))
/// ```
/// A client is a cheap value; share it freely.
public struct SpoolClient: Sendable {
    public let storage: any JobStorage
    public let registry: JobRegistry
    public let clock: any JobClock
    let middleware: [any JobMiddleware]
    /// The middleware that wrap the store call, outermost first (a disabled tracing middleware
    /// left out, so it costs nothing).
    let enqueueMiddleware: [any JobEnqueueMiddleware]

    /// - Parameters:
    ///   - storage: where jobs are stored; the client holds it, it does not run it.
    ///   - registry: supplies each kind's defaults (queue, priority, attempts, timeout).
    ///   - clock: the time an enqueue stamps on its jobs (run-at times, delays).
    ///   - middleware: their `willEnqueue` runs before every enqueue, then the
    ///     ``JobEnqueueMiddleware`` among them wrap the store call. Default: metrics, and
    ///     tracing when a tracer is bootstrapped (``TracingMiddleware/bootstrapped``).
    public init(
        storage: any JobStorage, registry: JobRegistry = JobRegistry(), clock: any JobClock = SystemClock(),
        middleware: [any JobMiddleware] = TracingMiddleware.bootstrapped + [MetricsMiddleware()]
    ) {
        self.storage = storage
        self.registry = registry
        self.clock = clock
        self.middleware = middleware
        self.enqueueMiddleware = middleware.compactMap { layer in
            (layer as? TracingMiddleware)?.isEnabled == false ? nil : layer as? any JobEnqueueMiddleware
        }
    }

    /// Enqueues one job. Returns once it is stored (committed, for durable drivers).
    ///
    /// - Throws: ``SpoolError`` `queueFull` when a bounded queue is full and
    ///   `options.whenFull` is `.fail`; `invalidArgument` naming the option for a value outside
    ///   the ranges of ``JobInput`` (a run-at time outside 1970...9999, a control character in a
    ///   queue name, ...); storage errors.
    ///   With `.wait` (the default) a full bounded queue suspends the caller until space frees.
    public func enqueue<P: JobParameters>(_ parameters: P, options: EnqueueOptions = EnqueueOptions()) async throws -> JobHandle {
        try await enqueue([parameters], options: options)[0]
    }

    /// Enqueues many jobs of one kind in one storage call (one transaction, for durable drivers).
    public func enqueue<P: JobParameters>(_ parameters: [P], options: EnqueueOptions = EnqueueOptions()) async throws -> [JobHandle] {
        try await enqueue(prepare(parameters, options: options), whenFull: options.whenFull)
    }

    /// The jobs ``enqueue(_:options:)-([P],_)`` would store, without storing them: for a driver's
    /// own way in, such as `PostgresStorage.enqueue(_:on:now:)` inside the caller's transaction.
    /// The handler's registered defaults and `options` apply as in an enqueue; the enqueue
    /// middleware does not run. Cheap: payloads stay typed values until the driver encodes them.
    public func prepare<P: JobParameters>(_ parameters: [P], options: EnqueueOptions = EnqueueOptions()) -> [NewJob] {
        let now = clock.now
        let defaults = registry.job(kind: P.kind)?.options
        return parameters.map { parameters in
            makeJob(kind: P.kind, payload: JobPayload(value: parameters), options: options, defaults: defaults, now: now)
        }
    }

    /// Enqueues a job of `kind` with a raw payload (JSON bytes), for kinds without a Swift type.
    public func enqueue(kind: String, payload: [UInt8], options: EnqueueOptions = EnqueueOptions()) async throws -> JobHandle {
        let job = makeJob(
            kind: kind, payload: JobPayload(bytes: payload), options: options,
            defaults: registry.job(kind: kind)?.options, now: clock.now
        )
        return try await enqueue([job], whenFull: options.whenFull)[0]
    }

    /// Enqueues prepared jobs through the enqueue middleware. The storage checks every job
    /// against ``JobInput`` and stores its names in NFC; middleware sees them as given.
    /// - Throws: ``SpoolError`` `invalidArgument` naming the field when a job breaks a rule of
    ///   ``JobInput`` (nothing of the batch is stored); what middleware or storage throws.
    public func enqueue(_ jobs: [NewJob], whenFull: WhenFull = .wait) async throws -> [JobHandle] {
        var jobs = jobs
        for layer in middleware {
            try await layer.willEnqueue(&jobs)
        }
        let results: [EnqueueResult]
        if enqueueMiddleware.isEmpty {
            results = try await storage.enqueue(jobs, whenFull: whenFull, now: clock.now)
        } else {
            results = try await EnqueueChain.run(enqueueMiddleware, from: 0, jobs) { jobs in
                try await storage.enqueue(jobs, whenFull: whenFull, now: clock.now)
            }
        }
        return results.map { JobHandle(result: $0, storage: storage, clock: clock) }
    }

    func makeJob(kind: String, payload: JobPayload, options: EnqueueOptions, defaults: JobOptions?, now: Date) -> NewJob {
        let runAt = options.runAt ?? options.delay.map { now.adding($0) } ?? now
        return NewJob(
            id: JobID(date: now), queue: options.queue ?? defaults?.queue ?? "default", kind: kind, payload: payload,
            priority: options.priority ?? defaults?.priority ?? 0,
            maxAttempts: options.maxAttempts ?? defaults?.maxAttempts ?? 20, runAt: runAt, createdAt: now,
            uniqueKey: options.uniqueKey, timeout: options.timeout ?? defaults?.timeout, metadata: options.metadata,
            batch: options.batch, dependencies: options.dependsOn, dependencyFailure: options.onDependencyFailure
        )
    }

    /// A handle to a job enqueued earlier, by id.
    public func handle(_ id: JobID) -> JobHandle {
        JobHandle(result: EnqueueResult(id: id, state: .available, existing: false), storage: storage, clock: clock)
    }
}

/// A stored job, to await or inspect: the "spawn and join" of Spool.
public struct JobHandle: Sendable, Hashable {
    /// The job's id (the existing job's, when a unique key matched).
    public let id: JobID
    /// True when no job was stored because a live job held the unique key; the handle then
    /// refers to that job.
    public let existing: Bool
    /// The state right after the enqueue.
    public let initialState: JobState
    let storage: any JobStorage
    let clock: any JobClock

    init(result: EnqueueResult, storage: any JobStorage, clock: any JobClock) {
        id = result.id
        existing = result.existing
        initialState = result.state
        self.storage = storage
        self.clock = clock
    }

    /// Waits until the job is finished (succeeded, dead or cancelled) and returns how it ended.
    /// A dead job is an outcome, not an error: call ``JobOutcome/get()`` to throw its failure.
    ///
    /// - Throws: ``SpoolError`` `jobNotFound` if the job was deleted (or forgotten by a memory
    ///   store's retention) before it finished; `CancellationError` if the waiting task is
    ///   cancelled (the job itself is unaffected).
    public var value: JobOutcome {
        get async throws {
            guard let record = try await storage.waitForFinish(id) else {
                throw SpoolError.notFound(id)
            }
            return JobOutcome(record: record)
        }
    }

    /// The job as stored now.
    public func record() async throws -> JobRecord? {
        try await storage.job(id)
    }

    /// Waits for every handle; the outcomes come back in the same order.
    public static func values(_ handles: [JobHandle]) async throws -> [JobOutcome] {
        try await withThrowingTaskGroup(of: (Int, JobOutcome).self) { group in
            for (index, handle) in handles.enumerated() {
                group.addTask { (index, try await handle.value) }
            }
            var outcomes = [JobOutcome?](repeating: nil, count: handles.count)
            for try await (index, outcome) in group {
                outcomes[index] = outcome
            }
            return outcomes.map { $0! }
        }
    }

    public static func == (lhs: JobHandle, rhs: JobHandle) -> Bool { lhs.id == rhs.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }
}

/// How a finished job ended.
public struct JobOutcome: Sendable {
    /// The job's final record.
    public let record: JobRecord

    /// `succeeded`, `dead` or `cancelled`.
    public var state: JobState { record.state }
    /// True when the job succeeded.
    public var succeeded: Bool { record.state == .succeeded }
    /// The last error, for a dead or cancelled job.
    public var error: JobAttemptError? { record.lastError }

    /// Returns the result bytes of a succeeded job, or throws ``JobFailedError``.
    @discardableResult
    public func get() throws -> [UInt8]? {
        guard succeeded else { throw JobFailedError(id: record.id, kind: record.kind, state: record.state, error: error) }
        return record.result
    }

    /// Decodes the result of a succeeded job as `R`, or throws ``JobFailedError``.
    public func result<R: Decodable>(as type: R.Type) throws -> R {
        let bytes = try get() ?? Array("null".utf8)
        return try JobPayload(bytes: bytes).decode(as: R.self)
    }
}

/// A job ended without succeeding.
public struct JobFailedError: Error, Sendable, CustomStringConvertible {
    public let id: JobID
    public let kind: String
    /// `dead` or `cancelled`.
    public let state: JobState
    /// The last error recorded.
    public let error: JobAttemptError?

    public var description: String {
        "job \(id) (\(kind)) is \(state.rawValue)" + (error.map { ": \($0.message)" } ?? "")
    }
}
