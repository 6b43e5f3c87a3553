// The bench's vocabulary: the workloads, the drivers they run on, and why a run fails.
import Foundation

/// The standard workloads of docs/benchmarks.md, and the lane workloads L0–L2 (run only when
/// named): W4's latency of short I/O jobs with no CPU load (L0), while CPU-bound jobs saturate a
/// lane of their own (L1), and while the same CPU-bound jobs run on the shared cooperative pool
/// instead (L2, the contrast).
enum Workload: String, CaseIterable, Sendable {
    case w1 = "W1", w2 = "W2", w3 = "W3", w4 = "W4", w5 = "W5", w6 = "W6", w7 = "W7"
    case l0 = "L0", l1 = "L1", l2 = "L2"
    case b1 = "B1", b2 = "B2", b3 = "B3", b4 = "B4"

    /// What `spool bench` runs when no `--workload` is given.
    static let standard: [Workload] = [.w1, .w2, .w3, .w4, .w5, .w6, .w7]

    /// Parses `w3` or `W3`.
    init?(id: some StringProtocol) {
        self.init(rawValue: id.trimmingCharacters(in: .whitespaces).uppercased())
    }

    /// What the workload does, in a few words.
    var summary: String {
        switch self {
        case .w1: return "enqueue one call at a time"
        case .w2: return "bulk enqueue"
        case .w3: return "drain a full queue"
        case .w4: return "queue latency at 200 jobs/s"
        case .w5: return "50 ms async jobs, concurrency 100"
        case .w6: return "worker killed mid-run"
        case .w7: return "drain with 1,000,000 jobs waiting"
        case .l0: return "I/O job latency, no CPU load"
        case .l1: return "I/O job latency, CPU jobs saturating their lane"
        case .l2: return "I/O job latency, CPU jobs on the shared pool (no lane)"
        case .b1: return "enqueue a batch in one call"
        case .b2: return "drain a batch"
        case .b3: return "batch callback latency"
        case .b4: return "a chain of dependent jobs"
        }
    }

    /// W6 (kill a worker process) and W7 (a deep durable queue) only mean something for a
    /// durable driver.
    var needsDurableDriver: Bool { self == .w6 || self == .w7 }
}

/// The storage engines `spool bench` can drive.
enum BenchDriver: String, CaseIterable, Sendable {
    case memory, sqlite, postgres, redis

    /// Whether jobs outlive the process (W6 and W7 apply).
    var isDurable: Bool { self != .memory }

    /// W3's job count: a million for memory, ten thousand for the durable drivers.
    var drainJobs: Int { self == .memory ? 1_000_000 : 10_000 }
}

/// Why a benchmark could not run.
enum BenchError: Error, CustomStringConvertible {
    case timedOut(Workload, finished: Int, of: Int, after: Duration)
    case phaseTimedOut(Workload, phase: String, after: Duration)
    case workerExited(Workload, status: Int32)

    var description: String {
        switch self {
        case .timedOut(let workload, let finished, let total, let after):
            return "\(workload.rawValue) timed out after \(after): \(finished) of \(total) jobs finished"
        case .phaseTimedOut(let workload, let phase, let after):
            return "\(workload.rawValue) timed out after \(after) while \(phase)"
        case .workerExited(let workload, let status):
            return "\(workload.rawValue): the `spool work` child process exited on its own (status \(status)) before it was killed"
        }
    }
}
