import Foundation

/// A batch's id: time-ordered and 128-bit like a ``JobID`` (and written the same way), so
/// batches list newest first by id.
public struct BatchID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The id as a job id's bits (drivers store it like one).
    public let raw: JobID

    /// A new id for now.
    public init() { raw = JobID() }

    /// The id with these bits.
    public init(_ raw: JobID) { self.raw = raw }

    /// Parses the 26-character form; nil when `text` is not one.
    public init?(_ text: String) {
        guard let raw = JobID(text) else { return nil }
        self.raw = raw
    }

    public var description: String { raw.description }
    public static func < (lhs: BatchID, rhs: BatchID) -> Bool { lhs.raw < rhs.raw }
}

/// What a job does when one of its dependencies ends `dead` or `cancelled`.
public enum DependencyFailure: String, Sendable, Hashable, CaseIterable {
    /// Be cancelled, with a reason that names the dependency (the default). Its own dependents
    /// follow the same rule in turn.
    case cancel
    /// Run anyway, once every dependency has ended, however it ended.
    case run
}

/// The jobs a batch enqueues when it reaches a milestone; each is an ordinary job (kind,
/// payload, queue, options) that is not itself a member of the batch.
///
/// Each fires at most once per batch, decided by the store in the same transaction (or script)
/// as the outcome that reaches the milestone. A callback job carries its batch's id and what
/// fired it in its metadata (``BatchCallbacks/batchKey``, ``BatchCallbacks/eventKey``); a
/// handler reads them as ``JobContext/batch`` and ``JobContext/batchEvent``.
public struct BatchCallbacks: Sendable {
    /// Every job of the batch succeeded, at the batch's first finish. A batch in which a job
    /// went dead or was cancelled never fires it, even when those jobs are retried and succeed
    /// later.
    public var onSuccess: NewJob?
    /// Every job of the batch reached a final state (succeeded, dead or cancelled), whatever it
    /// was: fires at the batch's first finish. With `onSuccess`, both fire when all succeeded.
    public var onComplete: NewJob?
    /// The first job of the batch went `dead`.
    public var onDead: NewJob?

    public init(onSuccess: NewJob? = nil, onComplete: NewJob? = nil, onDead: NewJob? = nil) {
        self.onSuccess = onSuccess
        self.onComplete = onComplete
        self.onDead = onDead
    }

    /// The metadata key of a callback job that names its batch.
    public static let batchKey = "spool.batch"
    /// The metadata key of a callback job that says what fired it: `success`, `complete`, `dead`.
    public static let eventKey = "spool.batch_event"

    /// The callbacks that are set, with their event names, in a fixed order.
    package var events: [(event: BatchEvent, job: NewJob)] {
        [(.success, onSuccess), (.complete, onComplete), (.dead, onDead)].compactMap { event, job in job.map { (event, $0) } }
    }
}

/// What fires a batch's callback.
public enum BatchEvent: String, Sendable, Hashable, CaseIterable {
    case success, complete, dead
}

/// A batch to store: its jobs and callbacks, all stored in one transaction.
public struct NewBatch: Sendable {
    public var id: BatchID
    /// The jobs; each job's ``NewJob/batch`` is set to ``id`` when stored.
    public var jobs: [NewJob]
    public var callbacks: BatchCallbacks
    public var createdAt: Date

    public init(id: BatchID = BatchID(), jobs: [NewJob], callbacks: BatchCallbacks = BatchCallbacks(), createdAt: Date) {
        self.id = id
        self.jobs = jobs
        self.callbacks = callbacks
        self.createdAt = createdAt
    }
}

/// Where a batch is.
public enum BatchState: String, Sendable, Hashable, CaseIterable {
    /// Some of its jobs have not reached a final state.
    case running
    /// Every job succeeded.
    case succeeded
    /// Every job reached a final state, and some did not succeed.
    case completed
    /// Cancelled as a whole: its unfinished jobs were cancelled.
    case cancelled

    /// The state of a batch with these counts (each clamped to 0 or more; their sum saturates).
    package init(total: Int, succeeded: Int, dead: Int, cancelled: Int, cancelledAt: Date?) {
        let finished = [dead, cancelled].reduce(max(0, succeeded)) { sum, count in
            let (added, overflow) = sum.addingReportingOverflow(max(0, count))
            return overflow ? Int.max : added
        }
        self = cancelledAt != nil ? .cancelled : finished < total ? .running : succeeded >= total ? .succeeded : .completed
    }
}

/// A batch as stored, with the counts of its jobs.
public struct BatchRecord: Sendable {
    public var id: BatchID
    public var state: BatchState
    /// How many jobs the batch has (it grows when a job adds jobs to it).
    public var total: Int
    /// Its jobs by their current state.
    public var counts: [JobState: Int]
    public var createdAt: Date
    /// When every job first reached a final state (the batch's first finish, when its
    /// callbacks fired); nil until then. A job retried later makes the batch run again but
    /// keeps this time.
    public var finishedAt: Date?
    /// When it was cancelled as a whole.
    public var cancelledAt: Date?
    /// The ids of the callback jobs that have fired, by event.
    public var callbackJobs: [BatchEvent: JobID]
    /// The events that have callbacks, fired or not.
    public var callbackEvents: Set<BatchEvent>

    public init(
        id: BatchID, state: BatchState, total: Int, counts: [JobState: Int], createdAt: Date, finishedAt: Date?,
        cancelledAt: Date?, callbackJobs: [BatchEvent: JobID], callbackEvents: Set<BatchEvent>
    ) {
        self.id = id
        self.state = state
        self.total = total
        self.counts = counts
        self.createdAt = createdAt
        self.finishedAt = finishedAt
        self.cancelledAt = cancelledAt
        self.callbackJobs = callbackJobs
        self.callbackEvents = callbackEvents
    }

    /// Jobs in `state` (0 when none).
    public func count(_ state: JobState) -> Int { counts[state] ?? 0 }
}

/// One page of batches, newest first.
public struct BatchPage: Sendable {
    public var batches: [BatchRecord]
    /// Pass as `after` for the next page; nil on the last.
    public var nextCursor: BatchID?

    public init(batches: [BatchRecord], nextCursor: BatchID?) {
        self.batches = batches
        self.nextCursor = nextCursor
    }
}
