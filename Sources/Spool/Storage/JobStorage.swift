import Foundation

/// A storage engine for jobs: the contract every driver (memory, SQLite, PostgreSQL, Redis)
/// fulfils, checked by the conformance suite in `SpoolTesting`.
///
/// It is composed of parts, each with its own callers and guarantees:
/// - ``JobEnqueuing``: the producer's part, storing new jobs.
/// - ``JobLeasing``: the worker path, claiming jobs under a lease, heartbeating, finishing,
///   rescuing expired leases and waiting for work.
/// - ``JobInspecting``: reading a job, listing jobs, counting them.
/// - ``JobControlling``: retrying, cancelling, deleting and pruning jobs.
/// - ``QueueControlling``: pausing queues and setting their limits.
///
/// A driver conforms to `JobStorage` (the suite checks every part); code that needs only a part
/// may ask for only that part. ``JobFinishObserving`` is an opt-in power on top.
///
/// Operations are named for what they mean to the queue and take batches, so a SQL driver can do
/// one statement per call and Redis one script. Times come from the caller's clock (`now`
/// arguments) so tests control them.
public protocol JobStorage: JobEnqueuing, JobLeasing, JobInspecting, JobControlling, QueueControlling {}

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
