import Foundation

extension SpoolClient {
    /// A job of `parameters` as ``enqueue(_:options:)-(P,_)`` would store it, not stored: for a
    /// batch's jobs and callbacks (``enqueueBatch(_:callbacks:whenFull:)``). The kind's registered
    /// defaults and `options` apply.
    public func job<P: JobParameters>(_ parameters: P, options: EnqueueOptions = EnqueueOptions()) -> NewJob {
        prepare([parameters], options: options)[0]
    }

    /// Enqueues jobs as one batch with callbacks, in one storage call (one transaction, for
    /// durable drivers): all of them or none. Jobs may depend on one another
    /// (``EnqueueOptions/dependsOn``, with ids from ``job(_:options:)``).
    ///
    /// ```swift
    /// let rows = lines.map { client.job(ImportRow(line: $0)) }
    /// let batch = try await client.enqueueBatch(rows, callbacks: BatchCallbacks(
    ///     onSuccess: client.job(SendReport(file: name)),
    ///     onDead: client.job(MailFailure(file: name))))
    /// let finished = try await batch.value   // waits until every row job is final
    /// ```
    ///
    /// `whenFull`: on a bounded store, wait for room for the whole batch (default) or fail with
    /// `queueFull`. The enqueue middleware runs as for ``enqueue(_:whenFull:)`` on the batch's jobs (not on
    /// the callbacks, which are stored with the batch and enqueued by the store when they fire).
    /// - Throws: ``SpoolError`` `invalidArgument` for an empty batch; `unprocessable` for a job
    ///   of another batch, an unknown dependency, a cycle, or a driver that does not keep batches
    ///   (``JobBatching``); what middleware or storage throws.
    public func enqueueBatch(
        _ jobs: [NewJob], callbacks: BatchCallbacks = BatchCallbacks(), whenFull: WhenFull = .wait
    ) async throws -> BatchHandle {
        let store = try batching()
        var jobs = jobs
        for layer in middleware {
            try await layer.willEnqueue(&jobs)
        }
        let now = clock.now
        let id = BatchID(JobID(date: now))
        let results = try await EnqueueChain.run(enqueueMiddleware, from: 0, jobs) { jobs in
            try await store.enqueueBatch(NewBatch(id: id, jobs: jobs, callbacks: callbacks, createdAt: now), whenFull: whenFull, now: now)
        }
        return BatchHandle(
            id: id, jobs: results.map { JobHandle(result: $0, storage: storage, clock: clock) }, storage: store, clock: clock)
    }

    /// Enqueues typed jobs of one kind as one batch (see ``enqueueBatch(_:callbacks:whenFull:)``).
    public func enqueueBatch<P: JobParameters>(
        _ parameters: [P], options: EnqueueOptions = EnqueueOptions(), callbacks: BatchCallbacks = BatchCallbacks()
    ) async throws -> BatchHandle {
        try await enqueueBatch(prepare(parameters, options: options), callbacks: callbacks, whenFull: options.whenFull)
    }

    /// A handle to a batch enqueued earlier (its ``BatchHandle/jobs`` empty).
    /// - Throws: ``SpoolError`` `unprocessable` when the driver does not keep batches.
    public func batch(_ id: BatchID) throws -> BatchHandle {
        BatchHandle(id: id, jobs: [], storage: try batching(), clock: clock)
    }

    private func batching() throws -> any JobBatching {
        guard let store = storage as? any JobBatching else {
            throw SpoolError(
                code: .unprocessable, message: "batch: this driver (\(type(of: storage))) does not keep batches or dependencies yet")
        }
        return store
    }
}

/// A stored batch, to await, inspect or cancel.
public struct BatchHandle: Sendable {
    public let id: BatchID
    /// Handles of the jobs enqueued with the batch, in order.
    public let jobs: [JobHandle]
    let storage: any JobBatching
    let clock: any JobClock

    /// Waits until every job of the batch is final and returns the batch (its state says how it
    /// ended). Callbacks are enqueued by then; they run like any job.
    /// - Throws: ``SpoolError`` `invalidArgument` when the batch is unknown;
    ///   `CancellationError` when the waiting task is cancelled (the batch is unaffected).
    public var value: BatchRecord {
        get async throws {
            guard let record = try await storage.waitUntilBatchFinished(id) else {
                throw SpoolError.invalid("no batch has id \(id)")
            }
            return record
        }
    }

    /// The batch as stored now, with its counts; nil when unknown.
    public func record() async throws -> BatchRecord? {
        try await storage.batch(id)
    }

    /// A page of the batch's jobs (oldest first), with their states and results.
    public func jobs(after cursor: JobID? = nil, limit: Int = 100) async throws -> JobPage {
        try await storage.jobs(inBatch: id, after: cursor, limit: limit)
    }

    /// Cancels every job of the batch that has not finished; returns their ids (empty when the
    /// batch is unknown or already finished).
    @discardableResult
    public func cancel() async throws -> [JobID] {
        try await storage.cancelBatch(id, now: clock.now) ?? []
    }
}
