// One job as the memory driver keeps it (MemoryJob), and the kind name its jobs share (MemoryKind).
import Foundation

/// A kind name shared by every job of the kind (one reference instead of a string per job).
final class MemoryKind: @unchecked Sendable {
    let name: String
    init(_ name: String) { self.name = name }
}

/// One job as the memory driver keeps it: the hot fields packed inline (its lease among them,
/// so claims and outcomes hash nothing), the rest in `extra`, allocated only for jobs that need
/// it. About 180 bytes per waiting job, index included (`spool bench` prints it). The creation
/// time is the id's (to the millisecond); attempt and finish times are centiseconds after it.
final class MemoryJob: @unchecked Sendable {
    // The `var`s are only touched under the store's lock; the `let`s are read outside it too
    // (a claim builds its `ClaimedJob`s after unlocking). The order packs the small fields.
    let id: JobID
    let home: MemoryQueue
    let kindRef: MemoryKind
    let payload: JobPayload
    var state: JobState
    var attempt: UInt16
    let maxAttempts: UInt16
    let priority: Int16
    /// Centiseconds after creation when the last attempt started / the job finished; 0 = never.
    var attemptedStamp: UInt32 = 0
    var finishedStamp: UInt32 = 0
    var runAt: Date
    /// The worker holding the lease, and when the lease expires: set by each claim, and
    /// meaningful only while the job is running (nothing reads them in another state).
    var leaseOwner: String?
    var leaseExpiry = Date.distantPast
    var extra: Extra?

    final class Extra {
        var errors: [JobAttemptError] = []
        var uniqueKey: String?
        var timeout: Duration?
        var result: [UInt8]?
        var progress: JobProgress?
        var expiredLeases = 0
        var metadata: [String: String] = [:]
        /// Batch and dependencies, for a job that has them (or has dependents).
        var workflow: MemoryWorkflow?
    }

    init(_ new: NewJob, home: MemoryQueue, kind: MemoryKind, state: JobState) {
        id = new.id
        self.home = home
        kindRef = kind
        payload = new.payload
        priority = Int16(clamping: new.priority)
        self.state = state
        attempt = 0
        maxAttempts = UInt16(clamping: new.maxAttempts)
        runAt = new.runAt
        if new.uniqueKey != nil || new.timeout != nil || !new.metadata.isEmpty {
            let extra = Extra()
            extra.uniqueKey = new.uniqueKey
            extra.timeout = new.timeout
            extra.metadata = new.metadata
            self.extra = extra
        }
    }

    var queue: String { home.name }
    var kind: String { kindRef.name }
    var createdAt: Date { id.date }

    func stamp(_ date: Date) -> UInt32 {
        let centiseconds = (date.timeIntervalSince(createdAt) * 100).rounded(.up)
        return UInt32(clamping: max(1, Int64(saturating: centiseconds)))
    }

    func date(ofStamp stamp: UInt32) -> Date? {
        stamp == 0 ? nil : createdAt.addingTimeInterval(Double(stamp) / 100)
    }

    func extras() -> Extra {
        if let extra { return extra }
        let extra = Extra()
        self.extra = extra
        return extra
    }

    func record() -> JobRecord {
        JobRecord(
            id: id, queue: queue, kind: kind, payload: payload, priority: Int(priority), state: state,
            attempt: Int(attempt), maxAttempts: Int(maxAttempts), runAt: runAt, createdAt: createdAt,
            attemptedAt: date(ofStamp: attemptedStamp), finishedAt: date(ofStamp: finishedStamp),
            leaseOwner: state == .running ? leaseOwner : nil, leaseExpiresAt: state == .running ? leaseExpiry : nil,
            errors: extra?.errors ?? [],
            uniqueKey: extra?.uniqueKey, timeout: extra?.timeout, result: extra?.result,
            progress: extra?.progress, expiredLeases: extra?.expiredLeases ?? 0, metadata: extra?.metadata ?? [:],
            batch: extra?.workflow?.batch?.id, dependencies: extra?.workflow?.dependencies ?? [],
            dependencyFailure: extra?.workflow?.failure ?? .cancel
        )
    }

    /// The job as claimed, from its mutable fields as read under the store's lock (the rest
    /// never change after the enqueue: timeout and metadata live in `extra` from the start;
    /// `extra.workflow` may appear later, so its batch is read under the lock too).
    func claimed(attempt: UInt16, runAt: Date, extra: Extra?, batch: BatchID?) -> ClaimedJob {
        ClaimedJob(
            id: id, queue: queue, kind: kind, payload: payload, priority: Int(priority), attempt: Int(attempt),
            maxAttempts: Int(maxAttempts), createdAt: createdAt, runAt: runAt, timeout: extra?.timeout,
            metadata: extra?.metadata ?? [:], batch: batch
        )
    }

    func recordError(_ error: JobAttemptError) {
        let extra = extras()
        extra.errors.append(error)
        if extra.errors.count > JobAttemptError.historyLimit {
            extra.errors.removeFirst(extra.errors.count - JobAttemptError.historyLimit)
        }
    }
}
