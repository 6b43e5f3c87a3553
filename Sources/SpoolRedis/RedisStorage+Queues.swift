// RedisStorage: pausing and resuming queues, and setting their limits.

import Spool

extension RedisStorage {
    // MARK: Queues

    /// Pauses or resumes a queue for every process sharing the namespace. A resume wakes idle
    /// workers everywhere.
    public func setPaused(_ paused: Bool, queue: String) async throws {
        _ = try await command(
            [Array((paused ? "SADD" : "SREM").utf8), Array("\(prefix):paused".utf8), Array(queue.utf8)],
            "\(paused ? "pausing" : "resuming") queue '\(queue)'"
        )
        if !paused {
            try await wakeEveryProcess("resuming queue '\(queue)'")
        }
    }

    /// The paused queues.
    public func pausedQueues() async throws -> Set<String> {
        let reply = try await command([Array("SMEMBERS".utf8), Array("\(prefix):paused".utf8)], "reading paused queues")
        return Set((reply.elements ?? []).compactMap(\.string))
    }

    /// Sets a queue's limits for every process sharing the namespace (the `P:limits` hash);
    /// claims from the next one on honour them. Wakes idle workers everywhere.
    public func setLimits(_ limits: QueueLimits, queue: String) async throws {
        try limits.validate()
        let key = Array("\(prefix):limits".utf8)
        if limits.isNone {
            _ = try await command([Array("HDEL".utf8), key, Array(queue.utf8)], "removing the limits of queue '\(queue)'")
        } else {
            let value = [
                limits.maxRunning.map(String.init) ?? "", limits.rate.map { String($0.count) } ?? "",
                limits.rate.map { String(max(1, $0.period.milliseconds)) } ?? "",
            ].joined(separator: ",")
            _ = try await command(
                [Array("HSET".utf8), key, Array(queue.utf8), Array(value.utf8)], "setting the limits of queue '\(queue)'")
        }
        if limits.rate == nil {
            _ = try await command(
                [Array("DEL".utf8), Array("\(prefix):q:\(queue):starts".utf8)], "clearing the starts of queue '\(queue)'")
        }
        try await wakeEveryProcess("limiting queue '\(queue)'")
    }

    /// Wakes this process's idle workers and every other process's: an empty enqueue batch
    /// only runs the script's wake-up.
    private func wakeEveryProcess(_ after: String) async throws {
        workSignal.signal()
        _ = try await perform(
            .enqueue, [RedisCoding.arg(Int64(0)), RedisCoding.arg(0), [], RedisCoding.arg(Int64(0)), RedisCoding.arg(0)],
            "waking workers after \(after)")
    }

    /// The queues with limits.
    public func queueLimits() async throws -> [String: QueueLimits] {
        let reply = try await command([Array("HGETALL".utf8), Array("\(prefix):limits".utf8)], "reading queue limits")
        let cells = reply.elements ?? []
        var limits: [String: QueueLimits] = [:]
        for pair in stride(from: 0, to: cells.count - 1, by: 2) {
            guard let name = cells[pair].string, let value = cells[pair + 1].string else { continue }
            let fields = value.split(separator: ",", omittingEmptySubsequences: false).map { Int64($0) }
            guard fields.count == 3 else { throw RedisCoding.corrupt("queue limits of '\(name)': '\(value)'") }
            limits[name] = QueueLimits.stored(maxRunning: fields[0], rateCount: fields[1], period: fields[2].map { .milliseconds($0) })
        }
        return limits
    }
}
