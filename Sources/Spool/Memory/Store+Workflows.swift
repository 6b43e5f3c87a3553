// The memory driver's batches and dependencies: what a job of a workflow carries (MemoryWorkflow),
// a batch (MemoryBatch), and the store's bookkeeping when such a job is stored or reaches a final state.
import DequeModule
import Foundation

/// What a job of a batch or with dependencies carries besides the usual (in its `extra`, so
/// other jobs pay one nil check per move).
final class MemoryWorkflow {
    /// True for the one record a batch's members share while they have no dependencies and no
    /// dependents (most members): it holds only the batch. A member that gains dependents gets
    /// a record of its own first (``MemoryJob/Extra/ownWorkflow()``).
    let isShared: Bool
    var batch: MemoryBatch?
    /// The ids it depends on, in id order.
    var dependencies: [JobID] = []
    /// Dependencies that have not yet ended (succeeded, or ended at all for `.run`).
    var waitingOn = 0
    var failure = DependencyFailure.cancel
    /// Jobs waiting on this one (entries of jobs that have since moved on are skipped).
    var dependents: [MemoryJob] = []

    init(batch: MemoryBatch? = nil, isShared: Bool = false) {
        self.batch = batch
        self.isShared = isShared
    }
}

/// A batch: its members and the counts of those that reached each final state.
final class MemoryBatch {
    let id: BatchID
    let createdAt: Date
    var members: [MemoryJob] = []
    var total = 0
    var succeeded = 0
    var dead = 0
    var cancelled = 0
    var finishedAt: Date?
    var cancelledAt: Date?
    let callbacks: [BatchEvent: NewJob]
    var fired: [BatchEvent: JobID] = [:]
    /// The record of members without dependencies or dependents (see ``MemoryWorkflow/isShared``).
    lazy var shared = MemoryWorkflow(batch: self, isShared: true)

    init(id: BatchID, createdAt: Date, callbacks: BatchCallbacks) {
        self.id = id
        self.createdAt = createdAt
        self.callbacks = Dictionary(uniqueKeysWithValues: callbacks.events.map { ($0.event, $0.job) })
    }

    var finished: Int { succeeded + dead + cancelled }

    var state: BatchState {
        if cancelledAt != nil { return .cancelled }
        if finished < total { return .running }
        return succeeded == total ? .succeeded : .completed
    }

    func record() -> BatchRecord {
        var counts: [JobState: Int] = [:]
        for member in members { counts[member.state, default: 0] += 1 }
        return BatchRecord(
            id: id, state: state, total: total, counts: counts, createdAt: createdAt, finishedAt: finishedAt,
            cancelledAt: cancelledAt, callbackJobs: fired, callbackEvents: Set(callbacks.keys)
        )
    }

    /// Counts `state` (a final state) once more, or once less.
    func count(_ state: JobState, by delta: Int) {
        switch state {
        case .succeeded: succeeded += delta
        case .dead: dead += delta
        case .cancelled: cancelled += delta
        case .pending, .scheduled, .available, .running: break
        }
    }
}

extension Store {
    /// Stores jobs that use batches or dependencies (and, with `batch`, a new batch), all or
    /// nothing, ignoring capacity for none of them: the caller checked room for all.
    mutating func insertWorkflow(_ jobs: [NewJob], batch new: NewBatch?, now: Date) -> Result<[EnqueueResult], SpoolError> {
        do {
            let order = try planWorkflow(jobs, batch: new)
            let batch = new.map { MemoryBatch(id: $0.id, createdAt: $0.createdAt, callbacks: $0.callbacks) }
            if let batch { batches[batch.id] = batch }
            var results = [EnqueueResult?](repeating: nil, count: jobs.count)
            var alias: [JobID: JobID] = [:]
            var lookups = InsertLookups()
            // A batch is not done while its jobs are being stored (one stored cancelled must
            // not finish it before the rest are in).
            deferBatchSettlement = true
            for index in order {
                var job = jobs[index]
                if let batch { job.batch = batch.id }
                if let key = job.uniqueKey, let holder = uniqueKeys[key], holder.state.isLive {
                    alias[job.id] = holder.id
                    results[index] = EnqueueResult(id: holder.id, state: holder.state, existing: true)
                    continue
                }
                job.dependencies = job.dependencies.map { alias[$0] ?? $0 }
                results[index] = insertWorkflowJob(job, batch: batch, lookups: &lookups, now: now)
            }
            deferBatchSettlement = false
            var touched = Set(jobs.compactMap(\.batch))
            if let batch { touched.insert(batch.id) }
            for id in touched.sorted() {
                if let batch = batches[id] { settleBatchIfDone(batch, now: now) }
            }
            return .success(results.map { $0! })
        } catch let error as SpoolError {
            return .failure(error)
        } catch {
            return .failure(SpoolError.invalid("\(error)"))
        }
    }

    /// Checks a workflow enqueue before anything is stored; returns the order to insert in
    /// (every job after the jobs of the call it depends on).
    private func planWorkflow(_ jobs: [NewJob], batch new: NewBatch?) throws -> [Int] {
        if let taken = jobs.first(where: { lookup($0.id) != nil }) {
            throw SpoolError(code: .invalidArgument, message: "a job with id \(taken.id) already exists", job: taken.id)
        }
        if let new {
            if batches[new.id] != nil { throw SpoolError(code: .unprocessable, message: "batch: a batch with id \(new.id) already exists") }
        }
        for job in jobs {
            guard let id = job.batch, new?.id != id else { continue }
            guard let batch = batches[id] else {
                throw SpoolError(code: .unprocessable, message: "batch: no batch has id \(id)", job: job.id)
            }
            guard batch.state == .running else {
                throw SpoolError(
                    code: .unprocessable, message: "batch: batch \(id) is \(batch.state.rawValue): jobs can be added only while it runs",
                    job: job.id)
            }
        }
        for (job, dependency) in WorkflowPlan.outside(jobs) where lookup(dependency) == nil {
            throw SpoolError(code: .unprocessable, message: "depends_on: no job has id \(dependency)", job: job)
        }
        return try WorkflowPlan.order(jobs)
    }

    /// Stores one job of a workflow enqueue whose dependencies are all stored.
    /// The queue, kind and batch of the job stored last: a workflow enqueue's jobs usually
    /// share them, so each is looked up once.
    struct InsertLookups {
        var home: MemoryQueue?
        var kind: MemoryKind?
        var batch: MemoryBatch?
    }

    /// Stores one job of a workflow enqueue whose dependencies are all stored; `batch` is the
    /// batch being created, if any (else the job's own, looked up).
    private mutating func insertWorkflowJob(
        _ new: NewJob, batch created: MemoryBatch?, lookups: inout InsertLookups, now: Date
    )
        -> EnqueueResult
    {
        let home: MemoryQueue
        if let cached = lookups.home, cached.name == new.queue {
            home = cached
        } else {
            home = queue(new.queue)
            lookups.home = home
        }
        let kind: MemoryKind
        if let cached = lookups.kind, cached.name == new.kind {
            kind = cached
        } else {
            kind = self.kind(new.kind)
            lookups.kind = kind
        }
        if let id = new.batch, lookups.batch?.id != id { lookups.batch = created?.id == id ? created : batches[id] }
        let batch = new.batch == nil ? nil : lookups.batch
        // Without dependencies the job starts where any job would (no pending step), and a
        // member shares its batch's record.
        let workflow: MemoryWorkflow
        if new.dependencies.isEmpty, let batch {
            workflow = batch.shared
        } else {
            workflow = MemoryWorkflow(batch: batch)
            workflow.failure = new.dependencyFailure
            workflow.dependencies = Array(Set(new.dependencies)).sorted()
        }
        let job = MemoryJob(new, home: home, kind: kind, state: workflow.dependencies.isEmpty ? new.initialState(now: now) : .pending)
        job.extras().workflow = workflow
        _ = index.insert(job)
        home.move(from: nil, to: job.state)
        if let key = new.uniqueKey { uniqueKeys[key] = job }
        if let batch {
            batch.members.append(job)
            batch.total += 1
        }
        guard job.state == .pending else {
            if job.state == .scheduled {
                scheduled.insert(ScheduledEntry(runAt: job.runAt, job: job))
            } else {
                home.push(job)
            }
            return EnqueueResult(id: job.id, state: job.state, existing: false)
        }
        var standing = DependencyStanding(failure: new.dependencyFailure)
        for id in workflow.dependencies {
            guard let dependency = lookup(id) else { continue }
            standing.count(id, dependency.state)
            if !dependency.state.isFinished { dependency.extras().ownWorkflow().dependents.append(job) }
        }
        workflow.waitingOn += standing.unfinished
        if let (id, state) = standing.failed {
            cancelForDependency(job, dependency: id, ended: state, now: now)
        } else if workflow.waitingOn == 0 {
            release(job, now: now)
        }
        return EnqueueResult(id: job.id, state: job.state, existing: false)
    }

    /// A pending job whose dependencies have all ended: due now or at its run-at time.
    private mutating func release(_ job: MemoryJob, now: Date) {
        move(job, to: job.runAt > now ? .scheduled : .available, at: now)
        workflowActivity = true
    }

    private mutating func cancelForDependency(_ job: MemoryJob, dependency: JobID, ended: JobState, now: Date) {
        job.recordError(
            .dependencyFailed(dependency, ended: ended, attempt: Int(job.attempt), at: now))
        move(job, to: .cancelled, at: now)
    }

    /// Called by ``move(_:to:at:)`` for a job of a workflow: its batch's counts when it
    /// reaches a final state or leaves one, and its dependents when it reaches one. Cascades
    /// are handled one job at a time (no recursion however long a chain is).
    mutating func workflowMoved(_ job: MemoryJob, from previous: JobState, at now: Date) {
        guard let workflow = job.extra?.workflow else { return }
        if previous.isFinished, !job.state.isFinished, let batch = workflow.batch {
            // A retried job: the batch runs again, but its first finish stands (callbacks do
            // not fire twice, and on_success never after a failure).
            batch.count(previous, by: -1)
        }
        guard job.state.isFinished, !previous.isFinished else { return }
        settling.append(job)
        guard !isSettling else { return }
        isSettling = true
        defer { isSettling = false }
        while let next = settling.popFirst() {
            settle(next, now: now)
        }
    }

    private mutating func settle(_ job: MemoryJob, now: Date) {
        guard let workflow = job.extra?.workflow else { return }
        workflowActivity = true
        if let batch = workflow.batch {
            batch.count(job.state, by: 1)
            if job.state == .dead { fire(.dead, of: batch, now: now) }
            settleBatchIfDone(batch, now: now)
        }
        let dependents = workflow.dependents
        workflow.dependents = []
        for dependent in dependents where dependent.state == .pending {
            guard let waiting = dependent.extra?.workflow else { continue }
            if job.state == .succeeded || waiting.failure == .run {
                waiting.waitingOn -= 1
                if waiting.waitingOn == 0 { release(dependent, now: now) }
            } else {
                cancelForDependency(dependent, dependency: job.id, ended: job.state, now: now)
            }
        }
    }

    /// At the batch's first finish (every job final): on_complete, and on_success when every
    /// job succeeded.
    mutating func settleBatchIfDone(_ batch: MemoryBatch, now: Date) {
        guard !deferBatchSettlement, batch.finishedAt == nil, batch.finished >= batch.total else { return }
        batch.finishedAt = now
        fire(.complete, of: batch, now: now)
        if batch.succeeded == batch.total, batch.cancelledAt == nil { fire(.success, of: batch, now: now) }
    }

    /// Enqueues the batch's callback for `event` unless it has fired (or there is none).
    private mutating func fire(_ event: BatchEvent, of batch: MemoryBatch, now: Date) {
        guard batch.fired[event] == nil, var callback = batch.callbacks[event] else { return }
        batch.fired[event] = callback.id
        callback.batch = nil
        callback.dependencies = []
        callback.metadata[BatchCallbacks.batchKey] = batch.id.description
        callback.metadata[BatchCallbacks.eventKey] = event.rawValue
        if callback.runAt < now { callback.runAt = now }
        guard lookup(callback.id) == nil else { return }
        let home = queue(callback.queue)
        let state = callback.initialState(now: now)
        let job = MemoryJob(callback, home: home, kind: kind(callback.kind), state: state)
        _ = index.insert(job)
        home.move(from: nil, to: state)
        if state == .scheduled {
            scheduled.insert(ScheduledEntry(runAt: job.runAt, job: job))
        } else {
            home.push(job)
        }
        workflowActivity = true
    }

    /// Cancels every unfinished job of the batch; nil when there is no such batch.
    mutating func cancelBatch(_ id: BatchID, now: Date) -> [JobID]? {
        guard let batch = batches[id] else { return nil }
        if batch.cancelledAt == nil && batch.state == .running { batch.cancelledAt = now }
        var cancelled: [JobID] = []
        for member in batch.members where member.state.isLive && lookup(member.id) === member {
            member.recordError(
                JobAttemptError(attempt: Int(member.attempt), at: now, message: "cancelled with its batch", reason: "cancelled"))
            move(member, to: .cancelled, at: now)
            cancelled.append(member.id)
        }
        return cancelled
    }

    /// Finished batches before `before`: forgotten, at most `limit`.
    mutating func pruneBatches(before: Date, limit: Int) {
        var pruned = 0
        for (id, batch) in batches where pruned < limit {
            guard let finishedAt = batch.finishedAt, finishedAt < before else { continue }
            batches[id] = nil
            // The batch and its members point at each other: let go of both directions, so
            // both are freed once the members are (their records no longer name the batch).
            batch.members = []
            batch.shared.batch = nil
            pruned += 1
        }
    }
}

extension MemoryJob.Extra {
    /// The job's own workflow record, made (or copied from its batch's shared one) when
    /// missing: for adding dependents.
    func ownWorkflow() -> MemoryWorkflow {
        if let workflow, !workflow.isShared { return workflow }
        let own = MemoryWorkflow(batch: workflow?.batch)
        workflow = own
        return own
    }
}
