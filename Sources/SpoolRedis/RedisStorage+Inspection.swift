// RedisStorage: inspection (one job, listings, stats) and operator actions (retry, cancel, delete, prune).

import Foundation
import Spool

extension RedisStorage {
    // MARK: Inspection

    /// The job with `id`, or nil. One `HGETALL`.
    public func job(_ id: JobID) async throws -> JobRecord? {
        let reply = try await command([Array("HGETALL".utf8), Array("\(prefix):job:\(id)".utf8)], "reading job \(id)")
        return try record(reply)
    }

    private func record(_ reply: RESPValue) throws -> JobRecord? {
        try RedisCoding.hash(reply).map { try RedisCoding.record($0) }
    }

    /// Jobs passing `filter`, newest (highest id) first, at most `limit` (capped at 10,000),
    /// after the cursor. Cost: one script walks ids newest first reading the state, queue and
    /// kind of each, at most 100,000 per call (a page may then be short, with a cursor to go
    /// on from), then one pipelined `HGETALL` per job returned.
    public func jobs(_ filter: JobFilter, after: JobID?, limit: Int) async throws -> JobPage {
        let limit = min(max(1, limit), 10_000)
        if let states = filter.states, states.isEmpty { return JobPage(jobs: [], nextCursor: nil) }
        let states = filter.states.map { $0.map(\.rawValue).sorted().joined(separator: ",") } ?? "*"
        let arguments: [[UInt8]] = [
            after.map { RedisCoding.arg($0) } ?? [], RedisCoding.arg(limit), RedisCoding.arg(100_000), RedisCoding.arg(states),
            filter.queue == nil ? [48] : [49], RedisCoding.arg(filter.queue ?? ""), filter.kind == nil ? [48] : [49],
            RedisCoding.arg(filter.kind ?? ""),
        ]
        let reply = try await perform(.list, arguments, "listing jobs")
        guard let cells = reply.elements, let cursorText = cells.first?.string else {
            throw RedisCoding.corrupt("a listing reply of the wrong shape")
        }
        let ids = try cells.dropFirst().map { cell in
            guard let id = cell.string.flatMap({ JobID($0) }) else { throw RedisCoding.corrupt("a listed id that is not an id") }
            return id
        }
        var records: [JobRecord] = []
        if !ids.isEmpty {
            let replies: [RESPValue]
            do {
                let connection = try await pool.connection()
                replies = try await connection.pipeline(ids.map { [Array("HGETALL".utf8), Array("\(prefix):job:\($0)".utf8)] })
            } catch {
                throw wrap(error, "reading listed jobs")
            }
            for reply in replies {
                if let record = try record(try checked(reply)) { records.append(record) }
            }
        }
        return JobPage(jobs: records, nextCursor: cursorText.isEmpty ? nil : JobID(cursorText))
    }

    /// Counts by queue and state. One `HGETALL` of a counter hash the scripts keep.
    public func stats() async throws -> StorageStats {
        let reply = try await command([Array("HGETALL".utf8), Array("\(prefix):counts".utf8)], "counting jobs")
        guard let cells = reply.elements else { throw RedisCoding.corrupt("expected a hash of counts") }
        var stats = StorageStats()
        for pair in stride(from: 0, to: cells.count - 1, by: 2) {
            guard let field = cells[pair].string, let count = cells[pair + 1].int, count > 0,
                let colon = field.firstIndex(of: ":"), let state = JobState(rawValue: String(field[..<colon]))
            else { continue }
            stats.queues[String(field[field.index(after: colon)...]), default: [:]][state] = Int(count)
        }
        return stats
    }

    // MARK: Operator actions

    /// Makes dead or cancelled jobs available again with a fresh budget of attempts (attempt 0,
    /// run-at `now`), in one script. A job whose unique key another live job holds now is not
    /// retried. A retried job of a batch counts out of its final state there (the batch runs
    /// again; callbacks that fired do not fire again).
    /// - Returns: the ids that were retried, in the order given.
    public func retry(_ ids: [JobID], now: Date) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let done = Set(
            try self.ids(
                try await perform(.retry, [RedisCoding.arg(now)] + ids.map { RedisCoding.arg($0) }, "retry of \(ids.count) job(s)")))
        if !done.isEmpty { workSignal.signal() }
        return ids.filter { done.contains($0) }
    }

    /// Cancels jobs that have not finished, in one script, recording a `cancelled` error. A
    /// running job's lease is void at once: its worker's outcome and heartbeats are refused.
    /// In the same script each cancelled job counts in its batch and cancels its pending
    /// dependents in cascade (those that run anyway are released once all their dependencies
    /// ended).
    /// - Returns: the ids that were cancelled, in the order given.
    public func cancel(_ ids: [JobID], now: Date) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let done = Set(
            try self.ids(
                try await perform(.cancel, [RedisCoding.arg(now)] + ids.map { RedisCoding.arg($0) }, "cancel of \(ids.count) job(s)")))
        return ids.filter { done.contains($0) }
    }

    /// Deletes jobs in any state, in one script. A running job's worker loses its lease. An
    /// unfinished job of a batch, or one that others depend on, counts as cancelled for its
    /// batch and its dependents, in the same script.
    /// - Returns: the ids that existed and were deleted, in the order given.
    public func delete(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let done = Set(try self.ids(try await perform(.delete, ids.map { RedisCoding.arg($0) }, "delete of \(ids.count) job(s)")))
        return ids.filter { done.contains($0) }
    }

    /// Deletes at most `limit` finished jobs (succeeded, dead, cancelled) that finished before
    /// `before`, oldest first, in one script (at most 10,000 per call), and as many batches that
    /// first finished before then (with their callbacks and lists of jobs).
    /// - Returns: how many were deleted.
    public func prune(finishedBefore before: Date, limit: Int) async throws -> Int {
        guard limit > 0 else { return 0 }
        let reply = try await perform(.prune, [RedisCoding.arg(before), RedisCoding.arg(min(limit, 10_000))], "prune of finished jobs")
        return Int(reply.int ?? 0)
    }
}
