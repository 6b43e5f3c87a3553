// SQLiteStorage: pausing and resuming queues, and setting their limits.

import GRDB
import Spool

extension SQLiteStorage {
    // MARK: Queues

    /// Pauses or resumes a queue, for every process sharing the file: a paused queue keeps
    /// accepting jobs but claims hand none out. A resume wakes this process's idle workers at
    /// once (others at their next poll).
    public func setPaused(_ paused: Bool, queue: String) async throws {
        try await write("\(paused ? "pausing" : "resuming") queue '\(queue)'") { db in
            try db.cachedStatement(
                sql: """
                    INSERT INTO spool_queues (name, paused) VALUES (?, ?)
                    ON CONFLICT (name) DO UPDATE SET paused = excluded.paused
                    """
            ).execute(arguments: [queue, paused])
        }
        if !paused { workSignal.signal() }
    }

    private static let pausedSQL = "SELECT name FROM spool_queues WHERE paused <> 0"

    /// The paused queues.
    public func pausedQueues() async throws -> Set<String> {
        try await read("reading paused queues") { db in
            Set(try String.fetchAll(db.cachedStatement(sql: Self.pausedSQL)))
        }
    }

    /// Sets a queue's limits for every process sharing the file (kept in `spool_queues`);
    /// claims from the next one on honour them. Wakes this process's idle workers.
    public func setLimits(_ limits: QueueLimits, queue: String) async throws {
        try limits.validate()
        try await write("setting the limits of queue '\(queue)'") { db in
            try db.cachedStatement(
                sql: """
                    INSERT INTO spool_queues (name, max_running, rate_limit, rate_period_us) VALUES (?, ?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET max_running = excluded.max_running,
                        rate_limit = excluded.rate_limit, rate_period_us = excluded.rate_period_us
                    """
            ).execute(arguments: [queue, limits.maxRunning, limits.rate?.count, limits.rate.map { SQLiteCoding.micros($0.period) }])
            if limits.rate == nil {
                try db.cachedStatement(sql: "DELETE FROM spool_queue_starts WHERE queue = ?").execute(arguments: [queue])
            }
        }
        workSignal.signal()
    }

    /// The queues with limits.
    public func queueLimits() async throws -> [String: QueueLimits] {
        try await read("reading queue limits") { db in try Self.queueSettings(db).limits }
    }
}
