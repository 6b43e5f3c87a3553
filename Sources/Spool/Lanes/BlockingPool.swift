import DequeModule
import Foundation
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Threads of its own for blocking or CPU-heavy code, so it never holds up Swift's shared
/// cooperative pool (which has only one thread per core).
///
/// ```swift
/// let pool = BlockingPool(threads: 4)
/// registry.register(ResizeImage.self) { job, _ in
///     try await pool.run { try resize(job.path) }   // blocking work, off the cooperative pool
/// }
/// ```
/// The pool is also a `TaskExecutor`: `withTaskExecutorPreference(pool) { ... }` runs a whole
/// async body on its threads.
///
/// Threads start with the pool and stop at ``shutdown()`` (or when the pool, run as a
/// `Service`, sees graceful shutdown) after finishing what is queued; until then they keep the
/// pool alive, so call one of them. Cost: one lock and a
/// condition signal per job handed over; a blocked pool thread blocks only its own work.
public final class BlockingPool: TaskExecutor, Service, @unchecked Sendable {
    // @unchecked: `queue` and `stopped` are guarded by `condition`; `threads` is written only
    // in init.
    private let condition = NSCondition()
    private var queue = Deque<UnownedJob>()
    private var stopped = false
    private var threads: [Thread] = []
    private let finished = DispatchGroup()
    private let name: String
    /// The number of threads.
    public let threadCount: Int
    /// Whether the threads run at the lowest priority, leaving the cores to other work first (see ``init(threads:name:yieldsToOtherWork:)``).
    public let yieldsToOtherWork: Bool
    /// How the threads of a pool that yields to other work are kept out of its way.
    public let isolation: LaneIsolation
    private let idleGroup: IdleCgroup?

    /// Starts `threads` threads (at least 1) named `name-N`; nil: one per core, or one per core
    /// but one for a pool that yields to other work (at least 1).
    ///
    /// With `yieldsToOtherWork`, a lane for CPU-bound jobs: the threads run at the lowest
    /// priority of the normal scheduling class (nice 19 on Linux, background quality of service
    /// on Darwin), so whenever the cooperative pool (I/O-bound jobs, the worker's own claiming
    /// and storing) has work, it takes the core almost at once instead of waiting out a time
    /// slice, and the lane uses the cycles left over. Its default size leaves one core to
    /// everything else: a lane as wide as the machine keeps every core busy, and each wakeup
    /// of other work then has to push a lane thread aside first (measured with `spool bench
    /// --workload L0,L1` on 2 cores, SQLite: I/O job p99 ×1.2 with one lane thread, ×13 with
    /// two). Linux's `SCHED_IDLE` class looks like the better fit but is worse: measured the
    /// same way, a spinning `SCHED_IDLE` thread held up other threads' wakeups by up to a
    /// scheduler tick (p99 ×3). Linux ranks threads by nice only within their scheduling group
    /// (a session's autogroup, or a cgroup): against another process, a database server
    /// included, a lane whose process is otherwise idle competes as an equal. So on Linux the
    /// threads also move into a cgroup of their own marked idle (`cpu.idle`), where they run
    /// only on cycles nothing else on the machine wants, when the process may create one
    /// (cgroup v1 `cpu` controller, write access: root or a delegated hierarchy); see
    /// ``isolation`` for what was done. The group is removed at ``shutdown()``. Without
    /// `yieldsToOtherWork` (the default), the threads compete as equals, which suits blocking
    /// calls that mostly wait.
    ///
    /// Cost of yielding: while the machine is saturated by other work, the lane's jobs wait.
    public init(threads: Int? = nil, name: String = "spool.blocking", yieldsToOtherWork: Bool = false) {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        threadCount = max(1, threads ?? (yieldsToOtherWork ? cores - 1 : cores))
        self.name = name
        self.yieldsToOtherWork = yieldsToOtherWork
        let made = yieldsToOtherWork ? IdleCgroup.make(label: name) : nil
        switch made {
        case .success(let group): isolation = .idleCgroup(path: group.path)
        case .failure(let unavailable): isolation = .lowPriority(reason: unavailable.description)
        case nil: isolation = .none
        }
        let group = try? made?.get()
        idleGroup = group
        for index in 0..<threadCount {
            finished.enter()
            // The threads keep the pool alive until `shutdown()` lets them end.
            let thread = Thread {
                if yieldsToOtherWork { Self.lowerThisThreadsPriority() }
                group?.enterCurrentThread()
                self.work()
                group?.leaveCurrentThread()
                self.finished.leave()
            }
            if yieldsToOtherWork { thread.qualityOfService = .background }
            thread.name = "\(name)-\(index)"
            self.threads.append(thread)
        }
        for thread in self.threads { thread.start() }
    }

    /// Gives the calling thread the lowest priority of the normal class (Linux: nice 19; a
    /// thread is its own scheduling entity there, so this leaves the process's other threads
    /// as they were). Failure leaves the thread as it was.
    private static func lowerThisThreadsPriority() {
        #if os(Linux)
        _ = setpriority(__priority_which_t(0), 0, 19)  // PRIO_PROCESS, this thread
        #endif
    }

    /// Runs `body` on one of the pool's threads and returns its result; the calling task waits
    /// without holding a cooperative thread.
    public func run<T: Sendable>(_ body: @Sendable () throws -> T) async throws -> T {
        try await withTaskExecutorPreference(self) {
            try await Self.runHere(body)
        }
    }

    /// A `@concurrent` hop: the body runs on the task's preferred executor (a pool thread), not
    /// on the caller's.
    @concurrent
    private static func runHere<T: Sendable>(_ body: @Sendable () throws -> T) async throws -> T {
        try body()
    }

    /// True when the calling code runs on one of this pool's threads.
    public var isCurrentThread: Bool {
        let current = Thread.current
        return threads.contains { $0 === current }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        queue.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Stops the threads once the queued work is done, and waits for them.
    public func shutdown() {
        condition.lock()
        let alreadyStopped = stopped
        stopped = true
        condition.broadcast()
        condition.unlock()
        // A pool thread shutting its own pool down must not wait for itself.
        if !alreadyStopped && !isCurrentThread {
            finished.wait()
            idleGroup?.remove()
        }
    }

    /// Runs until graceful shutdown, then stops the threads.
    public func run() async throws {
        try? await gracefulShutdown()
        shutdown()
    }

    private func work() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopped {
                condition.wait()
            }
            guard let job = queue.popFirst() else {
                condition.unlock()
                return
            }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// How a ``BlockingPool`` keeps its threads out of other work's way.
public enum LaneIsolation: Sendable, Hashable {
    /// Nothing: the pool's threads compete as equals (`yieldsToOtherWork` false).
    case none
    /// The lowest priority of the normal class (nice 19; background quality of service on
    /// Darwin) only: a lane below its own process's other threads, but an equal of other
    /// processes. `reason` says why no idle cgroup was made.
    case lowPriority(reason: String)
    /// Nice 19, and a cgroup marked idle at `path` (Linux): below every other thread on the
    /// machine.
    case idleCgroup(path: String)
}
