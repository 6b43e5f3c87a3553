import Foundation

/// The part of a storage that keeps batches: groups of jobs with callbacks
/// (``BatchCallbacks``), counted by the store in the same transaction (or script) as the
/// outcomes that change them, so "who finished last" is the store's decision and a crash
/// between an outcome and its bookkeeping cannot happen.
///
/// Dependencies between jobs (``NewJob/dependencies``) need no calls of their own: a driver that
/// conforms also honours them in ``JobEnqueuing/enqueue(_:whenFull:now:)`` and in every move of
/// a job to a final state. A driver that does not conform refuses jobs with dependencies or a
/// batch, naming the field.
///
/// A driver guarantees:
/// - A batch's jobs and the batch are stored together or not at all.
/// - Each callback is enqueued at most once, by the outcome (or cancel, delete, rescue) that
///   reaches its milestone, in the same transaction; a callback job is enqueued whatever the
///   capacity of its queue.
/// - A dependent becomes claimable in the same transaction as the outcome that releases its
///   last dependency, and is cancelled in the one that ends a dependency dead or cancelled
///   (unless it runs anyway), its own dependents in turn.
public protocol JobBatching: Sendable {
    /// Stores a batch and its jobs (each job's ``NewJob/batch`` set to the batch's id). Jobs of
    /// the batch may depend on one another and on stored jobs.
    ///
    /// `whenFull`: for bounded drivers, wait until the queues have room for the whole batch, or
    /// fail with `queueFull` at once; a batch larger than a queue's capacity is refused.
    /// - Returns: one result per job, in order.
    /// - Throws: ``SpoolError`` `invalidArgument` for an empty batch or a job that breaks a rule of
    ///   ``JobInput``; `unprocessable` for a job of another batch, an unknown dependency or a
    ///   cycle; nothing is stored then.
    func enqueueBatch(_ batch: NewBatch, whenFull: WhenFull, now: Date) async throws -> [EnqueueResult]

    /// The batch with its counts; nil when unknown.
    func batch(_ id: BatchID) async throws -> BatchRecord?

    /// Batches newest first, after `cursor`.
    func batches(after cursor: BatchID?, limit: Int) async throws -> BatchPage

    /// A page of the batch's jobs, by id (oldest first), after `cursor`.
    func jobs(inBatch id: BatchID, after cursor: JobID?, limit: Int) async throws -> JobPage

    /// Cancels every unfinished job of the batch (as ``JobControlling/cancel(_:now:)`` does)
    /// and marks it cancelled; callbacks fire as the cancellations reach their milestones
    /// (`onComplete`, never `onSuccess`).
    /// - Returns: the ids of the jobs cancelled; nil when the batch is unknown.
    func cancelBatch(_ id: BatchID, now: Date) async throws -> [JobID]?

    /// Waits until the batch has finished (every job final) and returns it; nil when unknown.
    func waitUntilBatchFinished(_ id: BatchID) async throws -> BatchRecord?
}
