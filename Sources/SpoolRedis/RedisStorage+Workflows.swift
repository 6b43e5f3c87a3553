// RedisStorage: batches and dependencies (JobBatching). Their books are kept by the scripts that
// move jobs (see RedisWorkflowScripts.swift).

import Foundation
import Spool

/// Batches and dependencies on the Redis driver.
///
/// Every script that moves a job of a batch into or out of a final state (an outcome, a cancel,
/// a delete, a rescue, a retry) counts it in the batch in the same script, and the batch's first
/// finish enqueues its callbacks there too (each once: the batch hash marks it fired); a job
/// with dependents that ends releases them, or cancels them in cascade, in that script as well.
/// So an outcome and its bookkeeping are one atomic step on the server, whichever process
/// writes it, and a crash cannot come between them.
///
/// Cost: a batch job's outcome adds one read and one write of its batch hash per batch and
/// per finish call (not per job); an ended job with dependents reads each dependent. Reading a
/// batch counts its jobs' states (one read per job, in one script).
extension RedisStorage: JobBatching {
    public func enqueueBatch(_ batch: NewBatch, whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        var batch = try batch.validated()
        for index in batch.jobs.indices { batch.jobs[index].batch = batch.id }
        return try await store(batch.jobs, batch: batch, now: now)
    }

    public func batch(_ id: BatchID) async throws -> BatchRecord? {
        try await batchRecords([id], "reading batch \(id)").first ?? nil
    }

    public func batches(after cursor: BatchID?, limit: Int) async throws -> BatchPage {
        let limit = min(max(1, limit), 10_000)
        let reply = try await command(
            [
                Array("ZREVRANGEBYLEX".utf8), Array("\(prefix):batches".utf8), cursor.map { Array("(\($0)".utf8) } ?? [43], [45],
                Array("LIMIT".utf8), [48], RedisCoding.arg(limit + 1),
            ], "listing batches")
        let ids = try batchIDs(reply)
        let records = try await batchRecords(Array(ids.prefix(limit)), "reading listed batches").compactMap { $0 }
        return BatchPage(batches: records, nextCursor: ids.count > limit ? ids[limit - 1] : nil)
    }

    public func jobs(inBatch id: BatchID, after cursor: JobID?, limit: Int) async throws -> JobPage {
        let limit = min(max(1, limit), 10_000)
        let reply = try await command(
            [
                Array("ZRANGEBYLEX".utf8), Array("\(prefix):batch:\(id):jobs".utf8), cursor.map { Array("(\($0)".utf8) } ?? [45], [43],
                Array("LIMIT".utf8), [48], RedisCoding.arg(limit + 1),
            ], "listing the jobs of batch \(id)")
        let ids = try listed(reply, "a listed job of batch \(id)")
        var records: [JobRecord] = []
        if !ids.isEmpty {
            let replies: [RESPValue]
            do {
                let connection = try await pool.connection()
                replies = try await connection.pipeline(
                    ids.prefix(limit).map { [Array("HGETALL".utf8), Array("\(prefix):job:\($0)".utf8)] })
            } catch {
                throw wrap(error, "reading the jobs of batch \(id)")
            }
            for reply in replies {
                if let fields = try RedisCoding.hash(try checked(reply)) { records.append(try RedisCoding.record(fields)) }
            }
        }
        return JobPage(jobs: records, nextCursor: ids.count > limit ? ids[limit - 1] : nil)
    }

    public func cancelBatch(_ id: BatchID, now: Date) async throws -> [JobID]? {
        let reply = try await perform(.cancelBatch, [RedisCoding.arg(id.raw), RedisCoding.arg(now)], "cancel of batch \(id)")
        guard let cells = reply.elements, let known = cells.first?.int else {
            throw RedisCoding.corrupt("a batch cancel reply of the wrong shape")
        }
        guard known == 1 else { return nil }
        workSignal.signal()
        return try ids(.array(Array(cells.dropFirst())))
    }

    /// Waits for the batch to finish: re-reads its counts at each wake-up (a batch's finish
    /// wakes every process) and at least every ``Configuration/pollInterval``.
    public func waitUntilBatchFinished(_ id: BatchID) async throws -> BatchRecord? {
        let key = Array("\(prefix):batch:\(id)".utf8)
        while true {
            let ticket = workSignal.ticket()
            let reply = try await command(
                [Array("HMGET".utf8), key, Array("total".utf8), Array("succeeded".utf8), Array("dead".utf8), Array("cancelled".utf8)],
                "reading batch \(id)")
            guard let cells = reply.elements, cells.count == 4 else { throw RedisCoding.corrupt("a batch reply of the wrong shape") }
            if cells[0].isNull { return nil }
            let counts = cells.map { StoredValue.count(RedisCoding.number($0) ?? 0) }
            if counts[1...].reduce(0, RedisCoding.saturatingAdd) >= counts[0] { return try await batch(id) }
            try Task.checkCancellation()
            await workSignal.wait(ticket, until: Date().adding(configuration.pollInterval), clock: SystemClock())
            try Task.checkCancellation()
        }
    }

    // MARK: Reading

    private func batchIDs(_ reply: RESPValue) throws -> [BatchID] {
        try listed(reply, "a listed batch").map { BatchID($0) }
    }

    /// The ids of a listing reply.
    /// - Throws: ``SpoolError`` `storageUnavailable` showing a listed value that is no id.
    private func listed(_ reply: RESPValue, _ what: String) throws -> [JobID] {
        guard let cells = reply.elements else { throw RedisCoding.corrupt("\(what): expected a list of ids") }
        return try cells.map { cell in
            let text = RedisCoding.text(cell) ?? ""
            guard let id = JobID(text) else { throw RedisCoding.corrupt("\(what) '\(text.prefix(40))' is not an id") }
            return id
        }
    }

    /// The batches with `ids`, in order (nil for an unknown one), with their jobs' counts.
    private func batchRecords(_ ids: [BatchID], _ operation: @autoclosure () -> String) async throws -> [BatchRecord?] {
        guard !ids.isEmpty else { return [] }
        let reply = try await perform(.batch, ids.map { RedisCoding.arg($0.raw) }, operation())
        guard let cells = reply.elements, cells.count == ids.count else { throw RedisCoding.corrupt("a batch reply of the wrong shape") }
        return try zip(ids, cells).map { id, cell in try RedisCoding.batch(id, cell) }
    }
}
