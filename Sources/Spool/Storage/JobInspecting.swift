import Foundation

/// Which jobs to list.
public struct JobFilter: Sendable, Hashable {
    public var states: Set<JobState>?
    public var queue: String?
    public var kind: String?

    /// - Parameters:
    ///   - states: the states to list; nil for every state.
    ///   - queue: nil for every queue; normalised to Unicode NFC, as stored names are (see
    ///     ``JobInput``), so either spelling of a name finds its jobs.
    ///   - kind: nil for every kind; normalised to NFC like `queue`.
    public init(states: Set<JobState>? = nil, queue: String? = nil, kind: String? = nil) {
        self.states = states
        self.queue = queue?.precomposedStringWithCanonicalMapping
        self.kind = kind?.precomposedStringWithCanonicalMapping
    }

    /// True when `record` passes the filter.
    public func matches(state: JobState, queue: String, kind: String) -> Bool {
        if let states, !states.contains(state) { return false }
        if let wanted = self.queue, wanted != queue { return false }
        if let wanted = self.kind, wanted != kind { return false }
        return true
    }
}

/// A page of a listing: jobs in id order, newest first, and the cursor for the next page.
public struct JobPage: Sendable {
    public var jobs: [JobRecord]
    /// Pass as `after` to get the next page; nil on the last page.
    public var nextCursor: JobID?

    public init(jobs: [JobRecord], nextCursor: JobID?) {
        self.jobs = jobs
        self.nextCursor = nextCursor
    }
}

/// Counts of jobs by queue and state.
public struct StorageStats: Sendable, Hashable {
    /// For each queue, the number of jobs in each state (states with no jobs may be absent).
    public var queues: [String: [JobState: Int]]

    public init(queues: [String: [JobState: Int]] = [:]) {
        self.queues = queues
    }

    /// The number of jobs in `state`, over every queue.
    public func count(_ state: JobState) -> Int {
        queues.values.reduce(0) { $0 + ($1[state] ?? 0) }
    }

    /// The number of jobs in `state` in `queue`.
    public func count(_ state: JobState, queue: String) -> Int {
        queues[queue]?[state] ?? 0
    }

    /// The number of jobs in every state and queue.
    public var total: Int {
        queues.values.reduce(0) { $0 + $1.values.reduce(0, +) }
    }
}

/// The read-only part of a storage: single jobs, listings and counts.
///
/// Called by ``JobHandle`` (to read a job's outcome), the HTTP API, the dashboard and the CLI,
/// never on the worker's hot path. A driver guarantees that a read sees every write that
/// returned before it began; a listing may mix jobs from before and after a concurrent write.
/// `stats` may scan the store (a dashboard samples it every few seconds), so a driver keeps it
/// to one query or script.
public protocol JobInspecting: Sendable {
    /// The job with `id`, or nil.
    func job(_ id: JobID) async throws -> JobRecord?

    /// Jobs passing `filter`, newest (highest id) first, `limit` at most, starting after the
    /// cursor `after` (the `nextCursor` of the previous page).
    func jobs(_ filter: JobFilter, after: JobID?, limit: Int) async throws -> JobPage

    /// Counts by queue and state.
    func stats() async throws -> StorageStats
}
