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

extension NewBatch {
    /// The batch with its jobs' names in Unicode NFC, once every rule holds: at least one job,
    /// each job and callback valid (``NewJob/validated()``), no id twice.
    /// - Throws: ``SpoolError`` `invalidArgument` naming the field (`jobs`, or `on_<event>` for
    ///   a callback).
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
        var ids = Set<JobID>(minimumCapacity: batch.jobs.count)
        for job in batch.jobs where !ids.insert(job.id).inserted {
            throw SpoolError(code: .invalidArgument, message: "the batch holds job id \(job.id) twice", job: job.id)
        }
        return batch
    }
}
