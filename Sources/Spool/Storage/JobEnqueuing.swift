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

/// The producer's part of a storage: storing new jobs.
///
/// Called by ``SpoolClient`` (and through it the HTTP API, the CLI and the scheduler), from any
/// number of tasks and processes at once.
///
/// A driver guarantees:
/// - `enqueue` returns only once the jobs are stored (committed, for durable drivers), so a
///   caller may answer "accepted" as soon as it returns.
/// - A stored job is visible to ``JobLeasing/claim(_:now:)`` and wakes a worker parked in
///   ``JobLeasing/waitForWork(queues:deadline:clock:)``.
public protocol JobEnqueuing: Sendable {
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
}
