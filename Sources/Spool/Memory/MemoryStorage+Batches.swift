import Foundation

/// Batches and dependencies on the memory driver: kept under the store's one lock, so an
/// outcome and its bookkeeping are one step (see ``JobBatching``).
///
/// Cost: a job of a workflow carries a small record besides its own; an outcome of one costs a
/// few counter updates, plus one step per dependent. Reading a batch (``batch(_:)``) counts its
/// jobs' states, one pass over its members; listing batches sorts their ids. A finished batch,
/// and with it the records of its jobs (beyond the store's retention of finished jobs), is kept
/// until ``prune(finishedBefore:limit:)`` passes its finish time.
extension MemoryStorage: JobBatching {
    public func enqueueBatch(_ batch: NewBatch, whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        let normalized = try batch.validated()
        return try await enqueueWorkflow(normalized.jobs, batch: normalized, whenFull: whenFull, now: now)
    }

    /// Stores a workflow enqueue whole: once its queues have room for all of it (or, with
    /// `.fail`, at once or not at all).
    func enqueueWorkflow(_ jobs: [NewJob], batch: NewBatch?, whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        let capacity = configuration.capacity
        var perQueue: [String: Int] = [:]
        for job in jobs { perQueue[job.queue, default: 0] += 1 }
        if let (queue, count) = perQueue.first(where: { $0.value > capacity }) {
            throw SpoolError.invalid(
                "jobs: \(count) jobs for queue '\(queue)' cannot be stored at once: its capacity is \(capacity) waiting jobs")
        }
        while true {
            let ticket = spaceSignal.ticket()
            let outcome: Result<[EnqueueResult], SpoolError>? = withStore { store in
                if let full = store.firstQueueWithoutRoom(for: jobs, capacity: capacity) {
                    return whenFull == .fail ? .failure(SpoolError.queueFull(queue: full, capacity: capacity)) : nil
                }
                return store.insertWorkflow(jobs, batch: batch, now: now)
            }
            switch outcome {
            case .success(let results):
                workSignal.signal()
                return results
            case .failure(let error):
                throw error
            case nil:
                try Task.checkCancellation()
                await spaceSignal.wait(ticket)
                try Task.checkCancellation()
            }
        }
    }

    public func batch(_ id: BatchID) async throws -> BatchRecord? {
        withStore { $0.batches[id]?.record() }
    }

    public func batches(after cursor: BatchID?, limit: Int) async throws -> BatchPage {
        let limit = min(max(1, limit), 1_000_000)
        return withStore { store in
            let ids = store.batches.keys.filter { cursor == nil || $0 < cursor! }.sorted(by: >).prefix(limit + 1)
            let batches = ids.prefix(limit).compactMap { store.batches[$0]?.record() }
            return BatchPage(batches: batches, nextCursor: ids.count > limit ? batches.last?.id : nil)
        }
    }

    public func jobs(inBatch id: BatchID, after cursor: JobID?, limit: Int) async throws -> JobPage {
        let limit = min(max(1, limit), 1_000_000)
        return withStore { store in
            guard let batch = store.batches[id] else { return JobPage(jobs: [], nextCursor: nil) }
            let members = batch.members.filter { member in
                (cursor == nil || member.id > cursor!) && store.lookup(member.id) === member
            }.sorted { $0.id < $1.id }.prefix(limit + 1)
            let jobs = members.prefix(limit).map { $0.record() }
            return JobPage(jobs: jobs, nextCursor: members.count > limit ? jobs.last?.id : nil)
        }
    }

    public func cancelBatch(_ id: BatchID, now: Date) async throws -> [JobID]? {
        let cancelled = withStore { $0.cancelBatch(id, now: now) }
        if let cancelled, !cancelled.isEmpty {
            spaceSignal.signal()
            finishSignal.signal()
            workSignal.signal()
        }
        return cancelled
    }

    public func waitUntilBatchFinished(_ id: BatchID) async throws -> BatchRecord? {
        while true {
            let ticket = finishSignal.ticket()
            let record = withStore { $0.batches[id]?.record() }
            guard let record else { return nil }
            if record.state != .running { return record }
            await finishSignal.wait(ticket)
            try Task.checkCancellation()
        }
    }
}
