import Spool
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A job that does nothing but say it ran (W1–W3). `index` is the job's number in its run,
/// so the run can tell a job that ran twice from one that never ran.
struct NoopJob: JobParameters {
    static let kind = "bench.noop"
    var index: Int
}

/// One of W7's backlog: a million jobs waiting in the queue behind the measured ones. Its
/// handler does nothing and is not counted.
struct BacklogJob: JobParameters {
    static let kind = "bench.backlog"
    var index: Int
}

/// A job that sleeps 50 ms without blocking a thread (W5).
struct SleepJob: JobParameters {
    static let kind = "bench.sleep"
    var index: Int
}

/// A job that measures how long it waited (W4): `enqueuedNanos` is a monotonic timestamp taken
/// right before the enqueue call; the handler subtracts it from its own start time.
/// L1/L2's CPU-bound job: spins for `ms` milliseconds without suspending.
struct CrunchJob: JobParameters {
    static let kind = "bench.crunch"
    var ms: Int
}

struct LatencyJob: JobParameters {
    static let kind = "bench.latency"
    var index: Int
    var enqueuedNanos: UInt64
}

/// Nanoseconds on the monotonic clock (comparable within this process only).
func monotonicNanos() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

/// Counts finished jobs and wakes the workload when the last of `target` is done.
///
/// Handlers call ``jobFinished()`` (one atomic add); the one that brings the count to `target`
/// notes the time and resumes the waiter. Nothing polls.
final class CompletionTracker: Sendable {
    /// The number of jobs the workload waits for.
    let target: Int
    private let count = Atomic<Int>(0)
    private let state = Mutex(State())

    private struct State {
        var doneAt: ContinuousClock.Instant?
        var cancelled = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    init(target: Int) {
        self.target = target
    }

    /// Jobs finished so far (runs, counting a job that ran twice twice).
    var finished: Int { count.load(ordering: .relaxed) }

    /// Records one finished job.
    func jobFinished() {
        let finished = count.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
        guard finished == target else { return }
        let now = ContinuousClock.now
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            state.doneAt = now
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Suspends until `target` jobs have finished, or the task is cancelled. Returns when the
    /// last one finished, or nil when cancelled first.
    func waitUntilDone() async -> ContinuousClock.Instant? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = state.withLock { state in
                    if state.doneAt != nil || state.cancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
                state.cancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
        return state.withLock { $0.doneAt }
    }
}

/// How many times each job of a run ran: one byte per job, bumped atomically by its handler.
/// Checked at the end for jobs that never ran (lost) or ran more than once (twice).
final class RunCounts: @unchecked Sendable {
    // @unchecked: the buffer is only reached through atomics, and freed in deinit.
    private let counts: UnsafeMutablePointer<Atomic<UInt8>>
    let jobs: Int

    init(jobs: Int) {
        self.jobs = jobs
        counts = .allocate(capacity: max(1, jobs))
        for index in 0..<jobs {
            (counts + index).initialize(to: Atomic(0))
        }
    }

    deinit {
        counts.deinitialize(count: jobs)
        counts.deallocate()
    }

    /// Records a run of job `index` (out-of-range indices are ignored).
    func ran(_ index: Int) {
        guard index >= 0 && index < jobs else { return }
        counts[index].wrappingAdd(1, ordering: .relaxed)
    }

    /// Jobs that ran at least once, never, and more than once.
    func tally() -> (finished: Int, lost: Int, twice: Int) {
        var finished = 0
        var twice = 0
        for index in 0..<jobs {
            let runs = counts[index].load(ordering: .relaxed)
            if runs > 0 { finished += 1 }
            if runs > 1 { twice += 1 }
        }
        return (finished, jobs - finished, twice)
    }
}

/// The queue latency of each job of a W4 run, in nanoseconds, written once by its handler.
final class LatencyRecorder: @unchecked Sendable {
    // @unchecked: the buffer is only reached through atomics, and freed in deinit.
    private let values: UnsafeMutablePointer<Atomic<UInt64>>
    let jobs: Int

    init(jobs: Int) {
        self.jobs = jobs
        values = .allocate(capacity: max(1, jobs))
        for index in 0..<jobs {
            (values + index).initialize(to: Atomic(UInt64.max))
        }
    }

    deinit {
        values.deinitialize(count: jobs)
        values.deallocate()
    }

    /// Records job `index`'s latency (the first run's, if it ran twice).
    func record(_ index: Int, nanoseconds: UInt64) {
        guard index >= 0 && index < jobs else { return }
        _ = values[index].compareExchange(expected: .max, desired: nanoseconds, ordering: .relaxed)
    }

    /// The recorded latencies in milliseconds, sorted (jobs that never ran are left out).
    func sortedMilliseconds() -> [Double] {
        var result: [Double] = []
        result.reserveCapacity(jobs)
        for index in 0..<jobs {
            let value = values[index].load(ordering: .relaxed)
            if value != .max { result.append(Double(value) / 1e6) }
        }
        return result.sorted()
    }
}
