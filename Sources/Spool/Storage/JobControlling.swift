import Foundation

/// An operator's power over jobs: retrying, cancelling, deleting, and pruning finished ones.
///
/// Called by the HTTP API, the dashboard and the CLI on an operator's request, and by the
/// retention of ``ClusterMaintenance`` (`prune`). Each call takes a batch and returns the ids it
/// *affected*; ids that were unknown or in the wrong state are left out, never an error.
///
/// A driver guarantees that a cancel or delete of a running job voids its worker's lease at
/// once: the worker's next ``JobLeasing/finish(_:worker:)`` or
/// ``JobLeasing/heartbeat(_:worker:lease:now:)`` reports the job in ``LeaseReport/lost`` and
/// writes nothing for it.
public protocol JobControlling: Sendable {
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
}
