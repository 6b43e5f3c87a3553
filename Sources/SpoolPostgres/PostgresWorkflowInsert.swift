import Foundation
import PostgresNIO
import Spool

/// The rows of a workflow enqueue, worked out before they are written: which jobs are stored
/// (a job whose unique key a live job holds is not; the holder stands in for it, also as a
/// dependency), each stored job's state from its dependencies' states (`pending` while some
/// have not ended; cancelled at once when one failed and it does not run anyway), the edges,
/// and what each batch gains.
struct WorkflowInsert: Sendable {
    let jobs: [NewJob]
    /// The batch every job joins (a ``NewBatch``), or nil (each job's own ``NewJob/batch``).
    let batch: BatchID?
    let now: Int64
    /// Whether each job is stored (false: a live job holds its unique key).
    private(set) var stored: [Bool]
    /// The job that stands in for a job not stored, with its state.
    private var alias: [JobID: (id: JobID, state: JobState)] = [:]
    private var position: [JobID: Int] = [:]
    private var states: [JobState]
    private var waiting: [Int?]
    private var hasDependents: [Bool]
    private var finishedAt: [Int64?]
    private var errors: [String?]
    /// Each stored job's dependencies (resolved, each once).
    private var dependencies: [[JobID]]

    init(jobs: [NewJob], batch: BatchID?, now: Int64) {
        self.jobs = jobs
        self.batch = batch
        self.now = now
        stored = Array(repeating: true, count: jobs.count)
        states = jobs.map { PostgresCoding.micros($0.runAt) > now ? .scheduled : .available }
        waiting = Array(repeating: nil, count: jobs.count)
        hasDependents = Array(repeating: false, count: jobs.count)
        finishedAt = Array(repeating: nil, count: jobs.count)
        errors = Array(repeating: nil, count: jobs.count)
        dependencies = Array(repeating: [], count: jobs.count)
        for (index, job) in jobs.enumerated() { position[job.id] = index }
    }

    /// Leaves out the jobs whose unique key a live job holds (`holders`, by key) or an
    /// earlier job of the call takes.
    mutating func resolveKeys(holders: [String: (JobID, JobState)]) {
        var taken: [String: Int] = [:]
        for (index, job) in jobs.enumerated() {
            guard let key = job.uniqueKey else { continue }
            if let (holder, state) = holders[key] {
                stored[index] = false
                alias[job.id] = (holder, state)
            } else if let first = taken[key] {
                stored[index] = false
                alias[job.id] = (jobs[first].id, states[first])
            } else {
                taken[key] = index
            }
        }
    }

    private func resolved(_ id: JobID) -> JobID { alias[id]?.id ?? id }

    /// Whether `id` is a job this call stores.
    private func isStoredHere(_ id: JobID) -> Bool { position[id].map { stored[$0] } ?? false }

    /// The dependencies of stored jobs that this call does not store, each once, with the
    /// first job that names it.
    func outsideDependencies() -> [(job: JobID, dependency: JobID)] {
        var seen = Set<JobID>()
        var outside: [(job: JobID, dependency: JobID)] = []
        for (index, job) in jobs.enumerated() where stored[index] {
            for dependency in job.dependencies.map(resolved) where !isStoredHere(dependency) && seen.insert(dependency).inserted {
                outside.append((job.id, dependency))
            }
        }
        return outside
    }

    /// Works out each stored job's state in `order` (every job after the jobs of the call it
    /// depends on), from the states of the dependencies outside the call (`outside`).
    mutating func settleStates(order: [Int], outside: [JobID: JobState], now date: Date) throws {
        for index in order where stored[index] {
            let job = jobs[index]
            guard !job.dependencies.isEmpty else { continue }
            let resolvedDependencies = Array(Set(job.dependencies.map(resolved))).sorted()
            dependencies[index] = resolvedDependencies
            var standing = DependencyStanding(failure: job.dependencyFailure)
            for dependency in resolvedDependencies {
                if let other = position[dependency], stored[other] {
                    hasDependents[other] = true
                    standing.count(dependency, states[other])
                } else {
                    standing.count(dependency, outside[dependency] ?? .pending)
                }
            }
            if let (dependency, ended) = standing.failed {
                states[index] = .cancelled
                finishedAt[index] = now
                errors[index] = try PostgresCoding.encodeErrors([.dependencyFailed(dependency, ended: ended, attempt: 0, at: date)])
            } else if standing.unfinished > 0 {
                states[index] = .pending
            }
            waiting[index] = standing.failed == nil ? standing.unfinished : 0
        }
    }

    private func batchOf(_ index: Int) -> BatchID? { batch ?? jobs[index].batch }

    /// The stored jobs per batch.
    var members: [BatchID: Int] {
        var members: [BatchID: Int] = [:]
        if let batch { members[batch] = 0 }
        for index in jobs.indices where stored[index] {
            if let batch = batchOf(index) { members[batch, default: 0] += 1 }
        }
        return members
    }

    /// The stored jobs per batch that were cancelled as they were stored.
    var cancelledMembers: [BatchID: Int] {
        var cancelled: [BatchID: Int] = [:]
        for index in jobs.indices where stored[index] && states[index] == .cancelled {
            if let batch = batchOf(index) { cancelled[batch, default: 0] += 1 }
        }
        return cancelled
    }

    /// The batches that may have finished as they were stored: those with jobs cancelled at
    /// once, and a new batch that got no job.
    func batchesToSettle(created: BatchID?) -> [BatchID] {
        var ids = Set(cancelledMembers.keys)
        if let created, (members[created] ?? 0) == 0 { ids.insert(created) }
        return ids.sorted()
    }

    /// The first job of the call that joins `batch`.
    func firstMember(of batch: BatchID) -> JobID? {
        jobs.indices.first { stored[$0] && batchOf($0) == batch }.map { jobs[$0].id }
    }

    var storedCount: Int { stored.lazy.filter { $0 }.count }

    /// The dependency rows of the stored jobs.
    var edges: [(job: JobID, dependency: JobID)] {
        jobs.indices.flatMap { index in dependencies[index].map { (jobs[index].id, $0) } }
    }

    /// The queues with a job stored claimable (or due later).
    var claimableQueues: Set<String> {
        Set(jobs.indices.filter { stored[$0] && (states[$0] == .available || states[$0] == .scheduled) }.map { jobs[$0].queue })
    }

    /// One result per job, in the call's order.
    func results() -> [EnqueueResult] {
        jobs.indices.map { index in
            let job = jobs[index]
            guard stored[index] else {
                let (holder, state) = alias[job.id] ?? (job.id, states[index])
                // A job of the call that took the key: its state as stored.
                let holderState = position[holder].map { states[$0] } ?? state
                return EnqueueResult(id: holder, state: holderState, existing: true)
            }
            return EnqueueResult(id: job.id, state: states[index], existing: false)
        }
    }

    /// The bindings of the INSERT of the stored jobs (see `insertWorkflowSQL`).
    /// - Throws: ``SpoolError`` `unencodablePayload` (or the metadata's encoding error).
    func bindings() throws -> PostgresBindings {
        let indices = jobs.indices.filter { stored[$0] }
        let rows = indices.map { jobs[$0] }
        var payloads: [[UInt8]] = []
        var metadata: [String?] = []
        for job in rows {
            payloads.append(try job.payload.encoded())
            metadata.append(try PostgresCoding.encodeMetadata(job.metadata))
        }
        let batches = indices.map(batchOf)
        var bindings = PostgresBindings(capacity: 22)
        bindings.append(PostgresArray(.uuids(rows.map { PostgresCoding.uuid($0.id) })))
        bindings.append(PostgresArray(.texts(rows.map(\.queue))))
        bindings.append(PostgresArray(.texts(rows.map(\.kind))))
        bindings.append(PostgresArray(.bytes(payloads)))
        bindings.append(PostgresArray(.int8s(rows.map { Int64($0.priority) })))
        bindings.append(PostgresArray(.texts(indices.map { states[$0].rawValue })))
        bindings.append(PostgresArray(.int8s(rows.map { Int64($0.maxAttempts) })))
        bindings.append(PostgresArray(.int8s(rows.map { PostgresCoding.micros($0.runAt) })))
        bindings.append(PostgresArray(.int8s(rows.map { PostgresCoding.micros($0.createdAt) })))
        bindings.append(PostgresArray(.texts(rows.map { $0.uniqueKey ?? "" })))
        bindings.append(PostgresArray(.bools(rows.map { $0.uniqueKey != nil })))
        bindings.append(PostgresArray(.int8s(rows.map { $0.timeout.map(PostgresCoding.micros) ?? 0 })))
        bindings.append(PostgresArray(.bools(rows.map { $0.timeout != nil })))
        bindings.append(PostgresArray(.texts(metadata.map { $0 ?? "" })))
        bindings.append(PostgresArray(.bools(metadata.map { $0 != nil })))
        bindings.append(PostgresArray(.uuids(batches.map { PostgresCoding.uuid($0?.raw ?? JobID(high: 0, low: 0)) })))
        bindings.append(PostgresArray(.bools(batches.map { $0 != nil })))
        bindings.append(PostgresArray(.int8s(indices.map { index in waiting[index].map { Int64($0) } ?? -1 })))
        bindings.append(
            PostgresArray(.texts(indices.map { jobs[$0].dependencies.isEmpty ? "" : jobs[$0].dependencyFailure.rawValue })))
        bindings.append(PostgresArray(.bools(indices.map { hasDependents[$0] })))
        bindings.append(PostgresArray(.int8s(indices.map { finishedAt[$0] ?? -1 })))
        bindings.append(PostgresArray(.texts(indices.map { errors[$0] ?? "" })))
        return bindings
    }
}
