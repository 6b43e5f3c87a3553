/// A middleware that wraps the store call of each enqueue, as ``JobRunMiddleware`` wraps a run:
/// for work that must enclose the store (a span that times it and records its failure).
///
/// ``SpoolClient`` calls every middleware's ``JobMiddleware/willEnqueue(_:)`` first, then the
/// wrapping middleware, outermost first, around the one storage call. A client without any
/// wrapping middleware calls the storage directly.
public protocol JobEnqueueMiddleware: JobMiddleware {
    /// Wraps one enqueue of `jobs`. Call `next` with the jobs to store (changed or not: metadata
    /// may be added, the jobs' number and order must stay); what it returns or throws is the
    /// enqueue's.
    func enqueue(_ jobs: [NewJob], next: ([NewJob]) async throws -> [EnqueueResult]) async throws -> [EnqueueResult]
}

/// The wrapping middleware around one storage call, outermost first.
package enum EnqueueChain {
    package static func run(
        _ layers: [any JobEnqueueMiddleware], from index: Int, _ jobs: [NewJob],
        store: ([NewJob]) async throws -> [EnqueueResult]
    ) async throws -> [EnqueueResult] {
        guard index < layers.count else { return try await store(jobs) }
        return try await layers[index].enqueue(jobs) { jobs in
            try await run(layers, from: index + 1, jobs, store: store)
        }
    }
}
