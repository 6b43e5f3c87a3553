import Foundation
import Logging

/// Cluster-wide maintenance of a store shared by many processes (the PostgreSQL and Redis
/// drivers), run by one elected leader: the rescue of expired leases and the pruning of
/// finished jobs.
///
/// Set it as the `maintenance` of the PostgreSQL or Redis driver's configuration (nil turns it
/// off); the driver elects the leader and runs it.
public struct ClusterMaintenance: Sendable {
    /// How often the leader returns expired leases to the queue. Default 5 s.
    public var rescueInterval: Duration
    /// A job whose lease expired more than this many times in a row is a poison job: `dead`.
    /// Default 3.
    public var poisonAfter: Int
    /// Finished jobs older than this are deleted; nil keeps them. Default 7 days.
    public var retention: Duration?
    /// How often the leader prunes. Default 60 s.
    public var pruneInterval: Duration
    /// How long a leader's lease lasts without renewal; a crashed leader is replaced within
    /// about twice this. Default 10 s.
    public var leaderTTL: Duration

    public init(
        rescueInterval: Duration = .seconds(5), poisonAfter: Int = 3, retention: Duration? = .seconds(7 * 24 * 3600),
        pruneInterval: Duration = .seconds(60), leaderTTL: Duration = .seconds(10)
    ) {
        self.rescueInterval = rescueInterval
        self.poisonAfter = max(0, poisonAfter)
        self.retention = retention
        self.pruneInterval = pruneInterval
        self.leaderTTL = leaderTTL
    }

    /// Every ``rescueInterval``, while `election` is leader: rescues expired leases and, every
    /// ``pruneInterval``, prunes finished jobs older than ``retention`` (10,000 per call, at most
    /// a million per round). Failures are logged and retried at the next interval. Returns when
    /// the task is cancelled.
    package func run(on storage: any JobStorage, election: any LeadershipGate, clock: any JobClock, logger: Logger) async {
        var nextPrune = clock.now
        while !Task.isCancelled {
            do {
                try await clock.sleep(for: rescueInterval)
            } catch {
                return
            }
            guard election.isLeader else { continue }
            do {
                let report = try await storage.rescueExpired(now: clock.now, poisonAfter: poisonAfter)
                if !report.rescued.isEmpty || !report.poisoned.isEmpty {
                    logger.warning(
                        "rescued jobs whose lease expired",
                        metadata: [
                            "spool.rescued": "\(report.rescued.count)", "spool.poisoned": "\(report.poisoned.count)",
                        ])
                }
                if let retention, clock.now >= nextPrune {
                    nextPrune = clock.now.adding(pruneInterval)
                    let cutoff = clock.now.adding(.zero - retention)
                    var rounds = 0
                    while try await storage.prune(finishedBefore: cutoff, limit: 10_000) == 10_000, !Task.isCancelled, rounds < 100 {
                        rounds += 1
                    }
                }
            } catch {
                logger.error("maintenance (rescue or prune) failed; retrying at the next interval", metadata: ["spool.error": "\(error)"])
            }
        }
    }
}
