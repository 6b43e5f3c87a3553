import Foundation

/// An operator's power over queues: pausing them and setting their flow-control limits.
///
/// Called by the HTTP API, the dashboard and the CLI. The settings are stored with the jobs, so
/// they hold for every process sharing the storage and survive restarts of durable drivers. A
/// driver guarantees that a claim that begins after one of these calls returned honours it; jobs
/// already running are never stopped.
public protocol QueueControlling: Sendable {
    /// Pauses or resumes a queue: a paused queue keeps accepting jobs but hands none out.
    func setPaused(_ paused: Bool, queue: String) async throws

    /// The paused queues.
    func pausedQueues() async throws -> Set<String>

    /// Sets a queue's flow-control limits for every process sharing the storage
    /// (``QueueLimits/none`` removes them). Claims from then on honour them; jobs already
    /// running are not stopped.
    /// - Throws: ``SpoolError`` `invalidArgument` for limits that fail ``QueueLimits/validate()``.
    func setLimits(_ limits: QueueLimits, queue: String) async throws

    /// The queues that have limits, with them.
    func queueLimits() async throws -> [String: QueueLimits]
}
