// RedisStorage: enqueue, in one script.

import Foundation
import Spool

extension RedisStorage {
    // MARK: Enqueue

    /// Stores the jobs in one script (all of them or, on an error, none) and wakes idle
    /// workers everywhere.
    ///
    /// A job whose unique key is held by a live job (from an earlier call, another process, or
    /// earlier in the same batch) is not stored; its result names the holder. `whenFull` is
    /// ignored: the driver is unbounded (bounded by the server's memory).
    /// Cost: one script; Redis runs nothing else meanwhile (about 40 µs per job on a small
    /// machine, so a batch of 100,000 holds the server for seconds: prefer batches of a few
    /// thousand). A batch must fit in ``Configuration/commandTimeout``.
    /// - Throws: ``SpoolError`` `invalidArgument` for an invalid job or an id that already
    ///   exists (or appears twice in the batch), `unencodablePayload`, or `storageUnavailable`;
    ///   nothing of the batch is stored.
    public func enqueue(_ jobs: [NewJob], whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        try NewJob.refuseWorkflows(jobs, driver: "Redis")
        var arguments: [[UInt8]] = [RedisCoding.arg(now), RedisCoding.arg(jobs.count)]
        arguments.reserveCapacity(2 + 12 * jobs.count)
        for job in jobs {
            let job = try job.validated()
            arguments += [
                RedisCoding.arg(job.id), RedisCoding.arg(job.queue), RedisCoding.arg(job.kind), try job.payload.encoded(),
                RedisCoding.arg(job.priority), RedisCoding.arg(job.maxAttempts), RedisCoding.arg(job.runAt),
                RedisCoding.arg(job.createdAt), job.uniqueKey == nil ? [48] : [49], RedisCoding.arg(job.uniqueKey ?? ""),
                job.timeout.map { RedisCoding.arg(RedisCoding.nanos($0)) } ?? [], try RedisCoding.encodeMetadata(job.metadata),
            ]
        }
        let reply = try await perform(.enqueue, arguments, "enqueue of \(jobs.count) job(s)")
        guard let cells = reply.elements, cells.count == 3 * jobs.count else {
            throw RedisCoding.corrupt("an enqueue reply of the wrong shape")
        }
        var results: [EnqueueResult] = []
        results.reserveCapacity(jobs.count)
        for index in 0..<jobs.count {
            guard let id = cells[3 * index].string.flatMap({ JobID($0) }),
                let state = cells[3 * index + 1].string.flatMap(JobState.init(rawValue:))
            else {
                throw RedisCoding.corrupt("an enqueue reply without an id or state")
            }
            results.append(EnqueueResult(id: id, state: state, existing: cells[3 * index + 2].int == 1))
        }
        workSignal.signal()
        return results
    }
}
