// RedisStorage: enqueue, in one script (jobs, and a batch with its callbacks).

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
    ///
    /// Jobs may join a running batch (``NewJob/batch``) and depend on other jobs
    /// (``NewJob/dependencies``, stored or in the same call, in any order): a job waiting on a
    /// dependency is stored `pending`, and one whose dependency already ended dead or cancelled
    /// is stored `cancelled` (unless it runs anyway).
    /// Cost: one script; Redis runs nothing else meanwhile (about 40 µs per job on a small
    /// machine, so a batch of 100,000 holds the server for seconds: prefer batches of a few
    /// thousand). A batch must fit in ``Configuration/commandTimeout``.
    /// - Throws: ``SpoolError`` `invalidArgument` for an invalid job or an id that already
    ///   exists (or appears twice in the batch), `unprocessable` for an unknown dependency or
    ///   batch, a batch that has finished, or a dependency cycle, `unencodablePayload`, or
    ///   `storageUnavailable`; nothing of the batch is stored.
    public func enqueue(_ jobs: [NewJob], whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        if let handed = try await handOff(jobs, now: now) { return handed }
        return try await store(jobs, batch: nil, now: now)
    }

    /// Stores `jobs` (and, with `batch`, the batch and its callbacks) in one script.
    func store(_ jobs: [NewJob], batch: NewBatch?, now: Date) async throws -> [EnqueueResult] {
        let jobs = try jobs.map { try $0.validated() }
        // Each job after the jobs of the call it depends on (the script reads their states).
        let order = try WorkflowPlan.order(jobs)
        let callbacks = batch?.callbacks.events ?? []
        var arguments: [[UInt8]] = [
            RedisCoding.arg(now), RedisCoding.arg(jobs.count), batch.map { RedisCoding.arg($0.id.raw) } ?? [],
            RedisCoding.arg(batch?.createdAt ?? now), RedisCoding.arg(callbacks.count),
        ]
        arguments.reserveCapacity(5 + 11 * callbacks.count + 15 * jobs.count)
        if let batch {
            for (event, job) in callbacks {
                var metadata = job.metadata
                metadata[BatchCallbacks.batchKey] = batch.id.description
                metadata[BatchCallbacks.eventKey] = event.rawValue
                arguments += [
                    RedisCoding.arg(event.rawValue), RedisCoding.arg(job.id), RedisCoding.arg(job.queue), RedisCoding.arg(job.kind),
                    try job.payload.encoded(), RedisCoding.arg(job.priority), RedisCoding.arg(job.maxAttempts),
                    RedisCoding.arg(job.runAt), RedisCoding.arg(job.createdAt),
                    job.timeout.map { RedisCoding.arg(RedisCoding.nanos($0)) } ?? [], try RedisCoding.encodeMetadata(metadata),
                ]
            }
        }
        for index in order {
            let job = jobs[index]
            arguments += [
                RedisCoding.arg(job.id), RedisCoding.arg(job.queue), RedisCoding.arg(job.kind), try job.payload.encoded(),
                RedisCoding.arg(job.priority), RedisCoding.arg(job.maxAttempts), RedisCoding.arg(job.runAt),
                RedisCoding.arg(job.createdAt), job.uniqueKey == nil ? [48] : [49], RedisCoding.arg(job.uniqueKey ?? ""),
                job.timeout.map { RedisCoding.arg(RedisCoding.nanos($0)) } ?? [], try RedisCoding.encodeMetadata(job.metadata),
                job.batch.map { RedisCoding.arg($0.raw) } ?? [],
                job.dependencies.isEmpty ? [] : RedisCoding.arg(job.dependencies.map(\.description).joined(separator: ",")),
                job.dependencies.isEmpty ? [] : RedisCoding.arg(job.dependencyFailure.rawValue),
            ]
        }
        let reply = try await perform(.enqueue, arguments, "enqueue of \(jobs.count) job(s)")
        guard let cells = reply.elements, cells.count == 3 * jobs.count else {
            throw RedisCoding.corrupt("an enqueue reply of the wrong shape")
        }
        var results = [EnqueueResult?](repeating: nil, count: jobs.count)
        for (position, index) in order.enumerated() {
            guard let id = cells[3 * position].string.flatMap({ JobID($0) }),
                let state = cells[3 * position + 1].string.flatMap(JobState.init(rawValue:))
            else {
                throw RedisCoding.corrupt("an enqueue reply without an id or state")
            }
            results[index] = EnqueueResult(id: id, state: state, existing: cells[3 * position + 2].int == 1)
        }
        workSignal.signal()
        return results.compactMap { $0 }
    }
}
