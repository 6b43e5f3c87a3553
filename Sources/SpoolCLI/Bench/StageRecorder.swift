import Spool
import Synchronization

/// Where a W4 job's wait went (`--stages`): the stages from its enqueue to its start, each a
/// span between two instants on the job's path, so that they add up to its latency.
struct StageFigure: Sendable, Equatable {
    /// The stages, in path order: the first starts when the producer calls `enqueue`, the
    /// last ends when the handler starts.
    static let names = ["until the claimer woke", "claimer woke → claim sent", "claim (round trip)", "claim → handler start"]
    /// Beside them (overlapping the first): how long the producer's `enqueue` call took.
    static let enqueueCall = "enqueue call (producer)"
    /// Every figure reported, in order.
    static let reported = [enqueueCall] + names

    let name: String
    let p50Milliseconds: Double
    let p90Milliseconds: Double
    let p99Milliseconds: Double

    /// The median of each percentile over runs, stage by stage (stages missing from a run are
    /// left out of its median).
    static func combine(_ runs: [[StageFigure]]) -> [StageFigure]? {
        guard runs.contains(where: { !$0.isEmpty }) else { return nil }
        return reported.compactMap { name in
            let rows = runs.compactMap { $0.first { $0.name == name } }
            guard !rows.isEmpty else { return nil }
            return StageFigure(
                name: name, p50Milliseconds: Figures.median(rows.map(\.p50Milliseconds))!,
                p90Milliseconds: Figures.median(rows.map(\.p90Milliseconds))!, p99Milliseconds: Figures.median(rows.map(\.p99Milliseconds))!
            )
        }
    }
}

/// Collects the instants of every W4 job's path: the producer's enqueue call (start and
/// return), the claimer's last wake-up and claim (through a ``ClaimProbe``), the handler's
/// start. Times are `monotonicNanos()`. Costs a lock per event (a few per job at 200 jobs/s).
final class StageRecorder: Sendable {
    private struct Claim {
        var woke: UInt64?
        var sent: UInt64
        var returned: UInt64
    }

    private struct State {
        var enqueued: [Int: (start: UInt64, returned: UInt64, id: JobID)] = [:]
        var started: [Int: UInt64] = [:]
        var claims: [JobID: Claim] = [:]
        /// Per claimer (a worker's), when it last woke and last sent a claim.
        var lastWoke: [Int: UInt64] = [:]
        var lastSent: [Int: UInt64] = [:]
    }

    private let state = Mutex(State())

    /// The probe for the configuration of worker `claimer` (each worker's claimer its own, so
    /// that with `--workers` the claims are told apart).
    func probe(claimer: Int) -> ClaimProbe {
        ClaimProbe { event in
            let now = monotonicNanos()
            self.state.withLock { state in
                switch event {
                case .woke:
                    state.lastWoke[claimer] = now
                case .claiming:
                    state.lastSent[claimer] = now
                case .claimed(let ids):
                    let claim = Claim(woke: state.lastWoke[claimer], sent: state.lastSent[claimer] ?? now, returned: now)
                    for id in ids where state.claims[id] == nil { state.claims[id] = claim }
                    state.lastWoke[claimer] = nil
                }
            }
        }
    }

    /// The producer's `enqueue` of job `index` (id `id`) was called at `start` and returned.
    func enqueued(_ index: Int, id: JobID, start: UInt64) {
        let now = monotonicNanos()
        state.withLock { $0.enqueued[index] = (start, now, id) }
    }

    /// Job `index`'s handler started at `at` (its first run's).
    func started(_ index: Int, at: UInt64) {
        state.withLock { state in
            if state.started[index] == nil { state.started[index] = at }
        }
    }

    /// The p50, p90 and p99 of each stage over the jobs whose whole path was seen.
    func figures() -> [StageFigure] {
        state.withLock { state in
            var spans = Array(repeating: [Double](), count: StageFigure.names.count + 1)
            for (index, enqueue) in state.enqueued {
                guard let start = state.started[index], let claim = state.claims[enqueue.id] else { continue }
                // Each instant no earlier than the one before it on the path: a claimer that was
                // awake already (or woke before the enqueue began) waited 0 for its wake-up.
                let woke = max(enqueue.start, claim.woke ?? claim.sent)
                let sent = max(woke, claim.sent)
                let returned = max(sent, claim.returned)
                let handler = max(returned, start)
                let path = [enqueue.start, woke, sent, returned, handler]
                spans[0].append(Double(enqueue.returned &- enqueue.start) / 1e6)
                for stage in 0..<StageFigure.names.count { spans[stage + 1].append(Double(path[stage + 1] - path[stage]) / 1e6) }
            }
            return zip(StageFigure.reported, spans).compactMap { name, values in
                let sorted = values.sorted()
                guard let p50 = Figures.percentile(50, ofSorted: sorted), let p90 = Figures.percentile(90, ofSorted: sorted),
                    let p99 = Figures.percentile(99, ofSorted: sorted)
                else { return nil }
                return StageFigure(name: name, p50Milliseconds: p50, p90Milliseconds: p90, p99Milliseconds: p99)
            }
        }
    }
}
