// PostgresStorage: pausing and resuming queues, and setting their limits.

import PostgresNIO
import Spool

extension PostgresStorage {
    // MARK: Queues

    /// Pauses or resumes a queue for every process sharing the schema: a paused queue keeps
    /// accepting jobs but claims hand none out. A resume notifies idle workers everywhere.
    public func setPaused(_ paused: Bool, queue: String) async throws {
        _ = try await committedRows(
            sql.setPaused,
            binds {
                $0.append(queue); $0.append(paused)
            }, "\(paused ? "pausing" : "resuming") queue '\(queue)'")
        if !paused { await announceWork([queue]) }
    }

    /// The paused queues.
    public func pausedQueues() async throws -> Set<String> {
        Set(try await rows(sql.paused, PostgresBindings(), "reading paused queues").map { try $0.decode(String.self) })
    }

    /// Sets a queue's limits for every process sharing the schema (kept in its queues table);
    /// claims that start after it commits honour them. Notifies idle workers everywhere.
    public func setLimits(_ limits: QueueLimits, queue: String) async throws {
        try limits.validate()
        _ = try await committedRows(
            sql.setLimits,
            binds {
                $0.append(queue)
                $0.append(limits.maxRunning.map(Int32.init))
                $0.append(limits.rate.map { Int32($0.count) })
                $0.append(limits.rate.map { PostgresCoding.micros($0.period) })
            }, "setting the limits of queue '\(queue)'")
        await announceWork([queue])
    }

    /// The queues with limits.
    public func queueLimits() async throws -> [String: QueueLimits] {
        var limits: [String: QueueLimits] = [:]
        for row in try await rows(sql.limits, PostgresBindings(), "reading queue limits") {
            let (name, maxRunning, rateLimit, period) = try row.decode((String, Int32?, Int32?, Int64?).self)
            limits[name] = PostgresCoding.limits(maxRunning: maxRunning, rateLimit: rateLimit, periodMicros: period)
        }
        return limits
    }
}
