import Foundation
import Spool

/// Conformance cases for batches and dependencies (``JobBatching``). A driver that does not keep
/// them must refuse them, naming the field; each case checks that instead.
extension StorageConformance {
    static func member(
        _ kind: String = "member", queue: String = "default", dependsOn: [JobID] = [], failure: DependencyFailure = .cancel
    )
        -> NewJob
    {
        var job = job(kind, queue: queue)
        job.dependencies = dependsOn
        job.dependencyFailure = failure
        return job
    }

    static func callbacks() -> BatchCallbacks {
        // In a queue of their own, so the cases' claims take only the batch's jobs.
        BatchCallbacks(
            onSuccess: job("cb.success", queue: "callbacks"), onComplete: job("cb.complete", queue: "callbacks"),
            onDead: job("cb.dead", queue: "callbacks"))
    }

    /// The kinds of the callback jobs stored so far, sorted (a kind twice means it fired twice).
    static func firedCallbacks(_ storage: any JobStorage) async throws -> [String] {
        var kinds: [String] = []
        var cursor: JobID?
        repeat {
            let page = try await storage.jobs(JobFilter(), after: cursor, limit: 500)
            kinds += page.jobs.map(\.kind).filter { $0.hasPrefix("cb.") }
            cursor = page.nextCursor
        } while cursor != nil
        return kinds.sorted()
    }

    static func finish(_ storage: any JobStorage, _ id: JobID, _ outcome: JobCompletion.Outcome, at now: Date = t0) async throws {
        let lost = try await storage.finish([JobCompletion(id: id, outcome: outcome, at: now)], worker: "w1").lost
        try check(lost.isEmpty, "the outcome of \(id) was stored")
    }

    /// The driver keeps workflows, or refuses them clearly (then the case ends).
    static func batching(_ storage: any JobStorage) async throws -> (any JobBatching)? {
        if let store = storage as? any JobBatching { return store }
        let dependent = member(dependsOn: [JobID()])
        var inBatch = job()
        inBatch.batch = BatchID()
        for (job, field) in [(dependent, "depends_on"), (inBatch, "batch")] {
            do {
                _ = try await storage.enqueue([job], whenFull: .fail, now: t0)
                try check(false, "a driver without batches stored a job with \(field)")
            } catch let error as SpoolError {
                try check(error.code == .unprocessable && error.message.hasPrefix(field), "refused naming \(field): \(error.message)")
            }
        }
        try check(try await storage.stats().total == 0, "nothing of a refused enqueue is stored")
        return nil
    }

    static let workflowCases: [ConformanceCase] = [
        ConformanceCase(name: "workflow: all jobs succeed (one after a retry): on_success and on_complete fire once, on_dead never") {
            storage in
            guard let store = try await batching(storage) else { return }
            let batch = NewBatch(jobs: [member(), member(), member()], callbacks: callbacks(), createdAt: t0)
            let results = try await store.enqueueBatch(batch, whenFull: .fail, now: t0)
            try check(results.count == 3 && results.allSatisfy { $0.state == .available }, "three jobs stored: \(results)")
            let claimed = try await claim(storage, 3)
            // A job outside the batch may wait for one of its jobs.
            let follower = member("follower", queue: "follow", dependsOn: [claimed[0].id])
            try check(try await storage.enqueue([follower], whenFull: .fail, now: t0)[0].state == .pending, "the follower waits")
            try await finish(storage, claimed[0].id, .succeeded(result: nil))
            try check(try await state(storage, follower.id) == .available, "a batch job's success releases its dependent")
            try check(try await storage.job(follower.id)?.batch == nil, "the dependent is not a member")
            try await finish(storage, claimed[1].id, .retry(at: t0.addingTimeInterval(1), error: error(1)))
            try await finish(storage, claimed[2].id, .succeeded(result: nil))
            try check(try await firedCallbacks(storage).isEmpty, "nothing fires while a job is left")
            try check(try await store.batch(batch.id)?.state == .running, "the batch runs")

            let again = try await claim(storage, 1, at: t0.addingTimeInterval(2))
            try check(again.map(\.id) == [claimed[1].id], "the retried job runs again")
            try await finish(storage, claimed[1].id, .succeeded(result: nil), at: t0.addingTimeInterval(2))
            let record = try await store.batch(batch.id)
            try check(record?.state == .succeeded && record?.total == 3, "succeeded with 3 jobs: \(String(describing: record))")
            try check(record?.count(.succeeded) == 3, "the retried job counts once: \(String(describing: record?.counts))")
            try check(try await firedCallbacks(storage) == ["cb.complete", "cb.success"], "each fired once")
            let success = try await storage.job(try unwrap(record?.callbackJobs[.success], "the success callback's id"))
            try check(success?.metadata[BatchCallbacks.batchKey] == batch.id.description, "a callback names its batch")
            try check(success?.metadata[BatchCallbacks.eventKey] == "success", "and what fired it")
            try check(success?.batch == nil, "a callback is not a member")

            let late = try await storage.finish(
                [JobCompletion(id: claimed[0].id, outcome: .succeeded(result: nil), at: t0)], worker: "w1")
            try check(late.lost == [claimed[0].id], "a repeated outcome is refused")
            try check(try await firedCallbacks(storage).count == 2, "and fires nothing")
        },

        ConformanceCase(
            name: "workflow: a dead job fires on_dead once; on_complete when all are final; on_success never, even after a retry"
        ) { storage in
            guard let store = try await batching(storage) else { return }
            let batch = NewBatch(jobs: [member(), member(), member()], callbacks: callbacks(), createdAt: t0)
            _ = try await store.enqueueBatch(batch, whenFull: .fail, now: t0)
            let claimed = try await claim(storage, 3)
            try await finish(storage, claimed[0].id, .dead(error: error(1)))
            try check(try await firedCallbacks(storage) == ["cb.dead"], "the first dead job fires on_dead")
            try await finish(storage, claimed[1].id, .dead(error: error(1)))
            try check(try await firedCallbacks(storage) == ["cb.dead"], "a second dead job does not")
            try await finish(storage, claimed[2].id, .succeeded(result: nil))
            var record = try await store.batch(batch.id)
            try check(record?.state == .completed && record?.finishedAt != nil, "completed: \(String(describing: record))")
            try check(record?.count(.dead) == 2 && record?.count(.succeeded) == 1, "counts: \(String(describing: record?.counts))")
            try check(try await firedCallbacks(storage) == ["cb.complete", "cb.dead"], "on_complete fired, on_success not")

            let retried = try await storage.retry([claimed[0].id, claimed[1].id], now: t0)
            try check(retried.count == 2, "the dead jobs are retried")
            try check(try await store.batch(batch.id)?.state == .running, "the batch runs again")
            for job in try await claim(storage, 2) { try await finish(storage, job.id, .succeeded(result: nil)) }
            record = try await store.batch(batch.id)
            try check(record?.count(.succeeded) == 3, "all succeeded now: \(String(describing: record?.counts))")
            try check(try await firedCallbacks(storage) == ["cb.complete", "cb.dead"], "nothing fires twice, on_success never")
        },

        ConformanceCase(name: "workflow: cancelling a batch cancels what has not finished; on_complete fires, on_success not") { storage in
            guard let store = try await batching(storage) else { return }
            let third = member()
            var delayed = member()
            delayed.runAt = t0.addingTimeInterval(60)
            let batch = NewBatch(jobs: [member(), member(), third, delayed], callbacks: callbacks(), createdAt: t0)
            _ = try await store.enqueueBatch(batch, whenFull: .fail, now: t0)
            // Two of the three due jobs run (which two is the driver's claim order), one finishes.
            let running = try await claim(storage, 2)
            try await finish(storage, running[0].id, .succeeded(result: nil))
            let cancelled = try await store.cancelBatch(batch.id, now: t0)
            let unfinished = Set(batch.jobs.map(\.id)).subtracting([running[0].id])
            try check(Set(cancelled ?? []) == unfinished, "the unfinished jobs: \(String(describing: cancelled))")
            try check(try await state(storage, delayed.id) == .cancelled, "a waiting job is cancelled")
            try check(try await state(storage, running[1].id) == .cancelled, "a running job is cancelled")
            try check(try await state(storage, running[0].id) == .succeeded, "a finished one is left alone")
            let record = try await store.batch(batch.id)
            try check(record?.state == .cancelled, "the batch is cancelled: \(String(describing: record?.state))")
            try check(try await firedCallbacks(storage) == ["cb.complete"], "on_complete fired once")
            try check(try await claim(storage, 10).isEmpty, "nothing of the batch runs")
            try check(try await store.cancelBatch(BatchID(), now: t0) == nil, "an unknown batch is nil")
            let page = try await store.jobs(inBatch: batch.id, after: nil, limit: 2)
            try check(page.jobs.count == 2 && page.nextCursor != nil, "its jobs page by page")
            try check(page.jobs.allSatisfy { $0.batch == batch.id }, "each names its batch")
        },

        ConformanceCase(name: "workflow: a chain runs in order, each step pending until the one before succeeded (retries included)") {
            storage in
            guard try await batching(storage) != nil else { return }
            let a = member("a")
            let b = member("b", dependsOn: [a.id])
            let c = member("c", dependsOn: [b.id])
            // Stored in one call, dependents first: the order of the call does not matter.
            let results = try await storage.enqueue([c, b, a], whenFull: .fail, now: t0)
            try check(results.map(\.state) == [.pending, .pending, .available], "states: \(results.map(\.state))")
            try check(try await storage.job(c.id)?.dependencies == [b.id], "c names its dependency")
            var claimed = try await claim(storage, 10)
            try check(claimed.map(\.kind) == ["a"], "only a is claimable: \(claimed.map(\.kind))")
            try await finish(storage, a.id, .retry(at: t0, error: error(1)))
            try check(try await state(storage, b.id) == .pending, "a retry releases nothing")
            claimed = try await claim(storage, 10)
            try await finish(storage, a.id, .succeeded(result: nil))
            try check(try await state(storage, b.id) == .available, "b is released by a's success")
            try check(try await state(storage, c.id) == .pending, "c still waits")
            claimed = try await claim(storage, 10)
            try check(claimed.map(\.kind) == ["b"], "then b: \(claimed.map(\.kind))")
            try await finish(storage, b.id, .succeeded(result: nil))
            try check(try await claim(storage, 10).map(\.kind) == ["c"], "then c")
            try check(try await storage.stats().count(.pending) == 0, "none pending")
        },

        ConformanceCase(name: "workflow: fan-in waits for every dependency; a dependency already succeeded counts as done") { storage in
            guard try await batching(storage) != nil else { return }
            let done = member("done")
            _ = try await storage.enqueue([done], whenFull: .fail, now: t0)
            _ = try await claim(storage, 1)
            try await finish(storage, done.id, .succeeded(result: nil))
            let parts = (0..<3).map { _ in member("part") }
            let join = member("join", dependsOn: parts.map(\.id) + [done.id])
            _ = try await storage.enqueue(parts + [join], whenFull: .fail, now: t0)
            let claimed = try await claim(storage, 10)
            try check(claimed.count == 3 && claimed.allSatisfy { $0.kind == "part" }, "the parts run first")
            for part in claimed.dropLast() { try await finish(storage, part.id, .succeeded(result: nil)) }
            try check(try await state(storage, join.id) == .pending, "join waits for the last part")
            try await finish(storage, claimed[2].id, .succeeded(result: nil))
            try check(try await state(storage, join.id) == .available, "the last part releases it")
            let late = member("late", dependsOn: [done.id])
            try check(try await storage.enqueue([late], whenFull: .fail, now: t0)[0].state == .available, "on a succeeded job: at once")
        },

        ConformanceCase(name: "workflow: a dependency that ends dead, cancelled or deleted cancels its dependents in cascade, naming it") {
            storage in
            guard try await batching(storage) != nil else { return }
            let a = member("a")
            let b = member("b", dependsOn: [a.id])
            let c = member("c", dependsOn: [b.id])
            let anyway = member("anyway", dependsOn: [a.id], failure: .run)
            _ = try await storage.enqueue([a, b, c, anyway], whenFull: .fail, now: t0)
            _ = try await claim(storage, 1)
            try await finish(storage, a.id, .dead(error: error(1)))
            let recordB = try await storage.job(b.id)
            try check(recordB?.state == .cancelled, "b is cancelled: \(String(describing: recordB?.state))")
            try check(recordB?.lastError?.reason == "dependency_failed", "reason: \(String(describing: recordB?.lastError))")
            try check(recordB?.lastError?.message.contains(a.id.description) == true, "names a: \(String(describing: recordB?.lastError))")
            let recordC = try await storage.job(c.id)
            try check(recordC?.state == .cancelled && recordC?.lastError?.message.contains(b.id.description) == true, "c in cascade")
            try check(try await state(storage, anyway.id) == .available, "a job that runs anyway runs")
            let onDead = member("on-dead", dependsOn: [a.id])
            try check(try await storage.enqueue([onDead], whenFull: .fail, now: t0)[0].state == .cancelled, "on a dead job: cancelled")

            let x = member("x")
            let y = member("y", dependsOn: [x.id])
            let z = member("z")
            let w = member("w", dependsOn: [z.id])
            _ = try await storage.enqueue([x, y, z, w], whenFull: .fail, now: t0)
            try check(try await storage.cancel([x.id], now: t0) == [x.id], "x cancelled")
            try check(try await state(storage, y.id) == .cancelled, "cancelling a dependency cancels its dependent")
            try check(try await storage.delete([z.id]) == [z.id], "z deleted")
            try check(try await state(storage, w.id) == .cancelled, "deleting an unfinished dependency cancels its dependent")
            try check(try await storage.cancel([w.id], now: t0).isEmpty, "a cancelled job is final")
        },

        ConformanceCase(
            name: "workflow: an unknown dependency, a cycle, the job itself or a closed batch is refused, and nothing is stored"
        ) { storage in
            guard let store = try await batching(storage) else { return }
            let a = member("a")
            let cases: [([NewJob], String)] = [
                ([member(dependsOn: [JobID()])], "depends_on: no job has id"),
                (
                    {
                        var x = member("x"); let y = member("y", dependsOn: [x.id]); x.dependencies = [y.id]; return [x, y]
                    }(), "cycle"
                ),
                (
                    {
                        var x = member("x"); x.dependencies = [x.id]; return [x]
                    }(), "depends_on names the job itself"
                ),
                (
                    {
                        var x = member("x"); x.batch = BatchID(); return [a, x]
                    }(), "batch: no batch has id"
                ),
            ]
            for (jobs, expected) in cases {
                do {
                    _ = try await storage.enqueue(jobs, whenFull: .fail, now: t0)
                    try check(false, "refused: \(expected)")
                } catch let error as SpoolError {
                    try check(
                        (error.code == .invalidArgument || error.code == .unprocessable) && error.message.contains(expected),
                        "\(expected): \(error.message)")
                }
            }
            try check(try await storage.stats().total == 0, "nothing stored")
            do {
                _ = try await store.enqueueBatch(NewBatch(jobs: [], createdAt: t0), whenFull: .fail, now: t0)
                try check(false, "an empty batch is refused")
            } catch let error as SpoolError {
                try check(error.message.hasPrefix("jobs"), "naming jobs: \(error.message)")
            }
            let batch = NewBatch(jobs: [member()], createdAt: t0)
            _ = try await store.enqueueBatch(batch, whenFull: .fail, now: t0)
            var added = member("added")
            added.batch = batch.id
            _ = try await storage.enqueue([added], whenFull: .fail, now: t0)
            try check(try await store.batch(batch.id)?.total == 2, "a running batch grows")
            for job in try await claim(storage, 10) { try await finish(storage, job.id, .succeeded(result: nil)) }
            try check(try await store.batch(batch.id)?.state == .succeeded, "done once both succeeded")
            var late = member("late")
            late.batch = batch.id
            do {
                _ = try await storage.enqueue([late], whenFull: .fail, now: t0)
                try check(false, "a finished batch takes no more jobs")
            } catch let error as SpoolError {
                try check(error.message.hasPrefix("batch:"), "naming batch: \(error.message)")
            }
        },
    ]

    /// A batch job that, on its first run, adds `extra` jobs to its batch.
    package struct GrowingJob: JobParameters {
        package static let kind = "spool.batch-probe"
        var extra: Int
    }

    /// A callback that reports what it learnt about its batch.
    package struct ReportJob: JobParameters {
        package static let kind = "spool.batch-report"
    }

    static let workflowWorkerCases: [ConformanceCase] = [
        ConformanceCase(name: "workflow: a worker runs a growing batch; its callback learns the batch and reads its counts") { storage in
            guard try await batching(storage) != nil else { return }
            let registry = JobRegistry()
            let reports = EventRecorder<String>()
            let client = SpoolClient(storage: storage, registry: registry, middleware: [])
            registry.register(GrowingJob.self) { job, context in
                guard job.extra > 0, let batch = context.batch else { return }
                _ = try await client.enqueue(
                    Array(repeating: GrowingJob(extra: 0), count: job.extra), options: EnqueueOptions(batch: batch))
            }
            registry.register(ReportJob.self) { _, context in
                guard let id = context.batch, let record = try await client.batch(id).record() else {
                    reports.record("no batch")
                    return
                }
                reports.record(
                    "\(context.batchEvent?.rawValue ?? "?") \(record.state.rawValue) \(record.count(.succeeded))/\(record.total)")
            }
            let worker = Worker(
                storage: storage, registry: registry, configuration: WorkerConfiguration(concurrency: 4, rescueInterval: nil),
                middleware: [])
            let (finished, seen) = try await withRunningWorker(worker) {
                let batch = try await client.enqueueBatch(
                    [client.job(GrowingJob(extra: 3)), client.job(GrowingJob(extra: 0))],
                    callbacks: BatchCallbacks(onSuccess: client.job(ReportJob())))
                let finished = try await batch.value
                return (finished, try await reports.waitForCount(1))
            }
            try check(finished.state == .succeeded && finished.total == 5, "grew to 5 and succeeded: \(finished)")
            try check(seen == ["success succeeded 5/5"], "the callback saw its batch: \(seen)")
        }
    ]

    static func unwrap<T>(_ value: T?, _ what: String) throws -> T {
        guard let value else { throw ConformanceFailure(message: "missing: \(what)", file: #fileID, line: #line) }
        return value
    }
}
