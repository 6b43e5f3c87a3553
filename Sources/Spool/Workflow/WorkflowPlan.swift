import DequeModule
import Foundation

/// The checks of a workflow enqueue that need no store, shared by the drivers that keep
/// workflows (``JobBatching``).
package enum WorkflowPlan {
    /// The order to store `jobs` in: every job after the jobs of the same call it depends on
    /// (Kahn's algorithm over the edges inside the call; dependencies outside it are the
    /// store's to check). Jobs without dependencies keep their order.
    /// - Throws: ``SpoolError`` `unprocessable` naming a job on a dependency cycle.
    package static func order(_ jobs: [NewJob]) throws -> [Int] {
        // A call without dependencies (the common batch) needs no graph.
        guard jobs.contains(where: { !$0.dependencies.isEmpty }) else { return Array(jobs.indices) }
        var position: [JobID: Int] = [:]
        for (index, job) in jobs.enumerated() { position[job.id] = index }
        var waiting = [Int](repeating: 0, count: jobs.count)
        var dependents = [[Int]](repeating: [], count: jobs.count)
        for (index, job) in jobs.enumerated() {
            for dependency in Set(job.dependencies) {
                guard let other = position[dependency] else { continue }
                waiting[index] += 1
                dependents[other].append(index)
            }
        }
        var ready = Deque(jobs.indices.filter { waiting[$0] == 0 })
        var order: [Int] = []
        order.reserveCapacity(jobs.count)
        while let index = ready.popFirst() {
            order.append(index)
            for dependent in dependents[index] {
                waiting[dependent] -= 1
                if waiting[dependent] == 0 { ready.append(dependent) }
            }
        }
        if order.count < jobs.count, let stuck = jobs.indices.first(where: { waiting[$0] > 0 }) {
            throw SpoolError(
                code: .unprocessable, message: "depends_on: job \(jobs[stuck].id) is part of a dependency cycle", job: jobs[stuck].id)
        }
        return order
    }

    /// The dependencies of `jobs` that are not jobs of the call, each once: the store must
    /// hold them.
    package static func outside(_ jobs: [NewJob]) -> [(job: JobID, dependency: JobID)] {
        guard jobs.contains(where: { !$0.dependencies.isEmpty }) else { return [] }
        let ids = Set(jobs.map(\.id))
        var seen = Set<JobID>()
        var outside: [(job: JobID, dependency: JobID)] = []
        for job in jobs {
            for dependency in job.dependencies where !ids.contains(dependency) && seen.insert(dependency).inserted {
                outside.append((job.id, dependency))
            }
        }
        return outside
    }
}

/// Where a job's dependencies stand when it is stored: the first that ended `dead` or
/// `cancelled` (unless the job runs anyway, then that one counts as ended) and how many have
/// not ended. A job with a failed dependency is stored cancelled
/// (``JobAttemptError/dependencyFailed(_:ended:attempt:at:)``); one with unfinished ones,
/// `pending`.
package struct DependencyStanding {
    /// The first dependency that failed, when the job does not run anyway.
    package private(set) var failed: (id: JobID, state: JobState)?
    /// The dependencies that have not ended.
    package private(set) var unfinished = 0
    let failure: DependencyFailure

    package init(failure: DependencyFailure) { self.failure = failure }

    /// Counts dependency `id`, now in `state`.
    package mutating func count(_ id: JobID, _ state: JobState) {
        switch state {
        case .succeeded: return
        case .dead, .cancelled:
            if failure == .cancel, failed == nil { failed = (id, state) }
        case .pending, .scheduled, .available, .running:
            unfinished += 1
        }
    }
}

extension JobAttemptError {
    /// The error of a job cancelled because `dependency` ended `ended` (`dead` or
    /// `cancelled`): reason `dependency_failed`, a message that names the dependency.
    package static func dependencyFailed(_ dependency: JobID, ended: JobState, attempt: Int, at: Date) -> JobAttemptError {
        JobAttemptError(attempt: attempt, at: at, message: "dependency \(dependency) ended \(ended.rawValue)", reason: "dependency_failed")
    }
}

extension NewBatch {
    /// The batch with its jobs' names in Unicode NFC, once every rule holds: at least one job,
    /// each job and callback valid (``NewJob/validated()``), no id twice, no job of another
    /// batch.
    /// - Throws: ``SpoolError`` `invalidArgument` naming the field (`jobs`, or `on_<event>` for
    ///   a callback); `unprocessable` for a job that names another batch.
    package func validated() throws -> NewBatch {
        guard !jobs.isEmpty else { throw SpoolError.invalid("jobs: a batch needs at least one job") }
        var batch = self
        for index in batch.jobs.indices {
            if let job = try batch.jobs[index].normalizedIfNeeded() { batch.jobs[index] = job }
        }
        for (event, job) in callbacks.events {
            do {
                try job.validate()
            } catch let error as SpoolError {
                throw SpoolError(code: error.code, message: "on_\(event.rawValue): \(error.message)", job: error.job)
            }
        }
        if let other = batch.jobs.first(where: { $0.batch != nil && $0.batch != id }) {
            throw SpoolError(code: .unprocessable, message: "batch: job \(other.id) belongs to another batch", job: other.id)
        }
        var ids = Set<JobID>(minimumCapacity: batch.jobs.count)
        for job in batch.jobs where !ids.insert(job.id).inserted {
            throw SpoolError(code: .invalidArgument, message: "the batch holds job id \(job.id) twice", job: job.id)
        }
        return batch
    }
}
