// The memory driver's waiting-job structures: a queue's priority lanes and per-state counts (JobState.ordinal), the scheduled heap's entry.
import DequeModule
import Foundation

/// A queue's waiting jobs, by priority (highest first), each priority in arrival order, and its
/// counts by state. A class so jobs can point at their queue without a name lookup.
final class MemoryQueue: @unchecked Sendable {
    let name: String
    /// One lane per priority, highest priority first; each lane in arrival order.
    var lanes: [(priority: Int16, jobs: Deque<MemoryJob>)] = []
    /// Jobs of this queue in each state (indexed by `JobState.ordinal`).
    var counts = [Int](repeating: 0, count: JobState.allCases.count)
    /// Flow control (``QueueLimits``), and the starts of the current rate window, oldest first.
    var limits = QueueLimits.none
    var starts = Deque<(at: Date, count: Int)>()

    init(_ name: String) { self.name = name }

    /// What the limits allow a claim at `now` (dropping starts that left the window); nil
    /// without limits.
    func allowance(now: Date) -> QueueAllowance? {
        guard !limits.isNone else { return nil }
        if let rate = limits.rate {
            let windowStart = now.adding(.zero - rate.period)
            while let first = starts.first, first.at <= windowStart { starts.removeFirst() }
        }
        return QueueAllowance(limits: limits, running: counts[JobState.running.ordinal], startsInWindow: Array(starts))
    }

    /// Jobs that count against the capacity: those not yet claimed (pending ones too).
    var waiting: Int {
        counts[JobState.available.ordinal] + counts[JobState.scheduled.ordinal] + counts[JobState.pending.ordinal]
    }

    func push(_ job: MemoryJob) {
        // Few priorities are in use: a short scan beats hashing.
        var index = 0
        while index < lanes.count && lanes[index].priority > job.priority { index += 1 }
        if index == lanes.count || lanes[index].priority != job.priority {
            lanes.insert((job.priority, Deque()), at: index)
        }
        lanes[index].jobs.append(job)
    }

    /// The next waiting job: highest priority, then arrival order. Skips stale entries (jobs
    /// cancelled or deleted while waiting, which are left in place and dropped here).
    func popAvailable() -> MemoryJob? {
        for index in lanes.indices {
            while let job = lanes[index].jobs.popFirst() {
                if job.state == .available { return job }
            }
        }
        return nil
    }

    func move(from old: JobState?, to new: JobState?) {
        if let old { counts[old.ordinal] -= 1 }
        if let new { counts[new.ordinal] += 1 }
    }
}

/// A scheduled job in the time-ordered heap (earliest run-at, then lowest id).
struct ScheduledEntry: Comparable {
    let runAt: Date
    let job: MemoryJob
    static func < (lhs: ScheduledEntry, rhs: ScheduledEntry) -> Bool {
        (lhs.runAt, lhs.job.id) < (rhs.runAt, rhs.job.id)
    }
    static func == (lhs: ScheduledEntry, rhs: ScheduledEntry) -> Bool {
        lhs.runAt == rhs.runAt && lhs.job === rhs.job
    }
    /// An entry whose job has since moved on (cancelled, deleted, rescheduled) is stale.
    var isCurrent: Bool { job.state == .scheduled && job.runAt == runAt }
}

extension JobState {
    /// A dense index for per-state counters.
    var ordinal: Int {
        switch self {
        case .scheduled: return 0
        case .available: return 1
        case .running: return 2
        case .succeeded: return 3
        case .dead: return 4
        case .cancelled: return 5
        case .pending: return 6
        }
    }
}
