import DequeModule
import Foundation
import Synchronization

/// The shared state of one worker's tasks (claimer, runners, flusher, heartbeat): claimed jobs
/// waiting for a runner, the leases held, slot accounting, and outcomes waiting to be stored.
///
/// One lock, taken about once per job by a runner (finish the last job and take the next in
/// one go) and once per batch by the claimer and the flusher. Nothing is hashed per job: the
/// leases held are the claimed jobs waiting in the buffer plus those running in the slots.
final class WorkerCore: JobProgressSink, Sendable {
    enum Phase: Sendable, Equatable {
        /// Claiming and running.
        case running
        /// Graceful shutdown: no more claims; running and already claimed jobs finish.
        case draining
        /// The drain timed out or the worker was cancelled: what remains is handed back.
        case stopping
    }

    /// Why the storage no longer grants this worker a job's lease.
    enum LeaseLoss: Sendable, Equatable {
        /// The job was cancelled (its stored state is `cancelled`).
        case cancelled
        /// The job was rescued, deleted, or its state could not be read.
        case lost
    }

    /// What one runner slot is doing.
    enum Slot: Sendable, Equatable {
        case idle
        /// Running a job whose lease this worker holds (its outcome is not yet recorded).
        case running(JobID)
        /// Running a job whose outcome is recorded already (a timeout reported at its deadline):
        /// the handler still holds the slot, the lease is no longer this worker's to renew.
        case recorded(JobID)
        /// The running job's lease was lost: its handler is being cancelled, and the runner must
        /// end (its task stays cancelled) so the slot can start a fresh one.
        case lost(JobID, LeaseLoss)
    }

    struct State {
        var phase = Phase.running
        var buffer = Deque<ClaimedJob>()
        /// Per runner slot (index: slot), the job it runs.
        var slots: [Slot]
        /// The latest progress reported by running jobs whose lease is held.
        var progress: [JobID: JobProgress] = [:]
        /// Slots in use: claimed jobs waiting for a runner plus handlers still running (a
        /// timed-out handler that ignores cancellation keeps its slot until it returns).
        var busy = 0
        var busyByQueue: [String: Int] = [:]
        var outcomes: [JobCompletion] = []
        var outcomesClosed = false
        /// A runner was woken for claimed jobs and has not yet come to take one.
        var runnerWakePending = false
        /// Per weighted queue, its pass (stride scheduling): the slots it was offered, each
        /// counted as 1 / weight. A claim offers each free slot to the queue with the lowest
        /// pass, so over many claims the shares follow the weights however few slots each
        /// claim fills.
        var passes: [String: Double] = [:]
        /// What the worker has done (counted under the lock the runners take anyway: counters
        /// of their own would bounce a cache line between threads on every job).
        var stats = WorkerStats()
    }

    let state: Mutex<State>
    /// The worker's concurrency.
    let concurrency: Int
    /// The claimer claims again once at most this many claimed jobs wait for a runner.
    let lowWater: Int
    /// Whether any queue has its own concurrency bound (else per-queue counts are not kept).
    let tracksQueues: Bool

    init(concurrency: Int, queues: [WorkerQueue]) {
        self.concurrency = concurrency
        lowWater = concurrency / 2
        tracksQueues = queues.contains { $0.concurrency != nil }
        state = Mutex(State(slots: Array(repeating: .idle, count: concurrency)))
        slotSignals = (0..<concurrency).map { _ in WakeSignal() }
    }
    /// Runners: jobs arrived or the phase changed.
    let jobsSignal = WakeSignal()
    /// The claimer: slots freed or the phase changed.
    let slotsSignal = WakeSignal()
    /// The flusher: outcomes arrived or were closed.
    let outcomesSignal = WakeSignal()
    /// Anyone waiting for the phase to leave `running`.
    let phaseSignal = WakeSignal()
    /// Per runner slot: the lease of the job it runs was lost.
    let slotSignals: [WakeSignal]

    var phase: Phase { state.withLock { $0.phase } }

    /// What the claimer should do next.
    enum ClaimDecision {
        /// Claim; when `weighted`, the demands are the queues' weighted shares, and the slots a
        /// short queue leaves are offered to the others by a second, unweighted claim
        /// (``claimDecision(queues:weighted:)`` with `weighted: false`).
        case claim(limit: Int, demands: [QueueDemand], weighted: Bool)
        case wait
        case stop
    }

    /// The next claim: the free slots (at least half of what was claimed already run), split
    /// among the queues (their own concurrency caps respected): in order of preference, or,
    /// when `weighted` and any queue has a weight, in proportion to the weights.
    /// The steal that follows a weighted claim passes `weighted: false` (and is not held back
    /// by the jobs that claim just buffered).
    func claimDecision(queues: [WorkerQueue], weighted: Bool = true) -> ClaimDecision {
        state.withLock { state in
            guard state.phase == .running else { return .stop }
            let free = concurrency - state.busy
            // Let runners work through most of what is claimed before claiming again, so claims
            // come in batches; claim at once when nothing is waiting for a runner.
            guard free > 0, !weighted || state.buffer.count <= lowWater else { return .wait }
            var room: [(queue: WorkerQueue, limit: Int)] = []
            for queue in queues {
                let cap = queue.concurrency ?? concurrency
                let limit = min(free, cap - state.busyByQueue[queue.name, default: 0])
                if limit > 0 { room.append((queue, limit)) }
            }
            guard !room.isEmpty else { return .wait }
            guard weighted, room.count > 1, queues.contains(where: { $0.weight != nil }) else {
                return .claim(limit: free, demands: room.map { QueueDemand(queue: $0.queue.name, limit: $0.limit) }, weighted: false)
            }
            let shares = Self.offer(free, to: room.map { ($0.queue.name, $0.queue.weight ?? 1, $0.limit) }, passes: &state.passes)
            let demands = zip(room, shares).compactMap { entry, share -> QueueDemand? in
                share > 0 ? QueueDemand(queue: entry.queue.name, limit: share) : nil
            }
            return .claim(limit: free, demands: demands, weighted: true)
        }
    }

    /// Splits `free` slots among `queues` by stride scheduling: each slot goes to the queue with
    /// the lowest pass (ties to the earlier queue) that still has room under its limit, and
    /// raises that pass by 1 / weight. Passes carry over from claim to claim, so a weight of
    /// 3 : 1 gives 3 : 1 of the slots over time even when each claim fills one or two.
    ///
    /// A queue is charged for what it was offered, whether or not it had jobs to fill it, so
    /// a queue that ran dry builds up no credit; and one that was out of the running (at its
    /// own concurrency cap) rejoins at most one slot's worth behind the leader, so it cannot
    /// then take a burst of slots.
    static func offer(_ free: Int, to queues: [(name: String, weight: Int, limit: Int)], passes: inout [String: Double]) -> [Int] {
        guard !queues.isEmpty else { return [] }
        var pass = queues.map { passes[$0.name, default: 0] }
        let lead = pass.max() ?? 0
        for index in pass.indices { pass[index] = max(pass[index], lead - 1) }
        var shares = queues.map { _ in 0 }
        for _ in 0..<free {
            var pick: Int?
            for index in queues.indices where shares[index] < queues[index].limit {
                if pick.map({ pass[index] < pass[$0] }) ?? true { pick = index }
            }
            guard let index = pick else { break }
            shares[index] += 1
            pass[index] += 1 / Double(max(1, queues[index].weight))
        }
        // Keep the numbers small: only differences between passes matter.
        let floor = pass.min() ?? 0
        for (index, queue) in queues.enumerated() { passes[queue.name] = pass[index] }
        for name in passes.keys { passes[name]! -= floor }
        return shares
    }

    /// Adds claimed jobs for the runners. In a phase other than `running` (shutdown began during
    /// the claim) they are handed back at once instead.
    func push(_ jobs: [ClaimedJob], at now: Date) {
        guard !jobs.isEmpty else { return }
        var wakeRunner = false
        let accepted: Bool = state.withLock { state in
            guard state.phase == .running else {
                for job in jobs {
                    state.outcomes.append(JobCompletion(id: job.id, outcome: .handBack, at: now))
                }
                state.stats.handedBack += jobs.count
                return false
            }
            state.buffer.append(contentsOf: jobs)
            state.busy += jobs.count
            if tracksQueues {
                for job in jobs { state.busyByQueue[job.queue, default: 0] += 1 }
            }
            wakeRunner = !state.runnerWakePending
            state.runnerWakePending = true
            return true
        }
        if accepted {
            // One idle runner; it wakes the next if more jobs wait (see `nextStep`). The signal
            // is bumped even when a runner is on its way, so one about to park sees the jobs.
            jobsSignal.signal(waking: wakeRunner ? 1 : 0)
        } else {
            outcomesSignal.signal()
        }
    }

    enum RunnerStep {
        case run(ClaimedJob)
        case wait
        case exit
        /// The lease of the job just run was lost and the runner's task is (being) cancelled:
        /// end the runner; its slot starts a fresh one.
        case replace
    }

    /// In one go: counts and stores the outcome of the job the runner in `slot` just ran (stored
    /// only if not already recorded and its lease is still held), releases its slot, and takes
    /// the next job.
    ///
    /// Wakes the flusher only when outcomes start to pile up (the first of a batch), and the
    /// claimer only when it may be waiting: the worker was full, or the claimed jobs ran low.
    ///
    /// Idle runners are woken one at a time, in a chain: ``push(_:at:)`` wakes one, and a
    /// runner that takes a job and leaves more behind wakes the next, unless one is already on
    /// its way (`afterWait` says this runner comes back from a wait: it may be that one). When
    /// handlers suspend (I/O), each woken runner soon frees its thread for the next, and the
    /// chain reaches as many runners as there are jobs. When handlers return at once, the
    /// runners already on the threads take the jobs and the chain stays short: waking a runner
    /// per job would cost a task wake-up each and queue a hundred runners ahead of the claimer
    /// on the cooperative pool.
    func nextStep(slot: Int, releasing finished: ClaimedJob?, outcome: JobCompletion?, afterWait: Bool = false) -> RunnerStep {
        var wakeClaimer = false
        var wakeFlusher = false
        var wakeAnother = false
        let step: RunnerStep = state.withLock { state in
            if afterWait { state.runnerWakePending = false }
            // Counted only when stored: a run whose lease was lost meanwhile stores nothing.
            if let outcome {
                if state.slots[slot] == .running(outcome.id) {
                    state.stats.count(outcome.outcome, timedOut: false)
                    wakeFlusher = state.outcomes.isEmpty
                    state.outcomes.append(outcome)
                    if !state.progress.isEmpty { state.progress[outcome.id] = nil }
                }
            }
            if let finished {
                wakeClaimer = state.busy == concurrency
                state.busy -= 1
                if tracksQueues { state.busyByQueue[finished.queue, default: 1] -= 1 }
            }
            if case .lost = state.slots[slot] {
                state.slots[slot] = .idle
                return .replace
            }
            if state.phase != .stopping, let job = state.buffer.popFirst() {
                if state.buffer.count == lowWater { wakeClaimer = true }
                if !state.buffer.isEmpty && !state.runnerWakePending {
                    state.runnerWakePending = true
                    wakeAnother = true
                }
                state.slots[slot] = .running(job.id)
                return .run(job)
            }
            state.slots[slot] = .idle
            // This runner is about to wait: a wake that found nobody parked must not hold back
            // the next one.
            state.runnerWakePending = false
            if state.buffer.isEmpty { wakeClaimer = true }
            return state.phase == .running ? .wait : .exit
        }
        if wakeFlusher { outcomesSignal.signal() }
        if wakeClaimer { slotsSignal.signal() }
        if wakeAnother { jobsSignal.signal(waking: 1) }
        return step
    }

    /// Counts the outcome of a run in `slot` and records it for the flusher (outside the
    /// runner's step: timeouts). Returns false when an outcome for this job was already
    /// recorded or its lease was lost.
    @discardableResult
    func record(_ completion: JobCompletion, slot: Int, timedOut: Bool) -> Bool {
        var wakeFlusher = false
        let recorded: Bool = state.withLock { state in
            guard state.slots[slot] == .running(completion.id) else { return false }
            state.stats.count(completion.outcome, timedOut: timedOut)
            state.slots[slot] = .recorded(completion.id)
            if !state.progress.isEmpty { state.progress[completion.id] = nil }
            wakeFlusher = state.outcomes.isEmpty
            state.outcomes.append(completion)
            return true
        }
        if wakeFlusher { outcomesSignal.signal() }
        return recorded
    }

    /// The storage no longer grants this worker these leases. A job waiting for a runner is
    /// dropped; a running job's slot is marked ``Slot/lost(_:_:)`` and woken, so the worker
    /// cancels its handler. Neither outcome will be stored (their leases are forgotten here).
    /// - Returns: the jobs whose lease this worker still held, and whether each was running.
    func loseLeases(_ losses: [JobID: LeaseLoss]) -> [(id: JobID, running: Bool)] {
        var wakeSlots: [Int] = []
        var wakeClaimer = false
        let affected: [(id: JobID, running: Bool)] = state.withLock { state in
            var affected: [(id: JobID, running: Bool)] = []
            for (id, loss) in losses {
                if let slot = state.slots.firstIndex(of: .running(id)) {
                    state.slots[slot] = .lost(id, loss)
                    state.progress[id] = nil
                    wakeSlots.append(slot)
                    affected.append((id, true))
                } else if let index = state.buffer.firstIndex(where: { $0.id == id }) {
                    let job = state.buffer.remove(at: index)
                    state.busy -= 1
                    if tracksQueues { state.busyByQueue[job.queue, default: 1] -= 1 }
                    wakeClaimer = true
                    if loss == .cancelled { state.stats.cancelled += 1 }
                    affected.append((id, false))
                }
            }
            return affected
        }
        for slot in wakeSlots { slotSignals[slot].signal() }
        if wakeClaimer { slotsSignal.signal() }
        return affected
    }

    /// Why the lease of the job the runner in `slot` runs was lost, or nil while it is held.
    func leaseLoss(slot: Int) -> LeaseLoss? {
        state.withLock { state in
            if case .lost(_, let loss) = state.slots[slot] { return loss }
            return nil
        }
    }

    /// Suspends until the lease of the job the runner in `slot` runs is lost, or cancellation.
    func waitUntilLeaseLost(slot: Int) async {
        let signal = slotSignals[slot]
        while !Task.isCancelled {
            let ticket = signal.ticket()
            if leaseLoss(slot: slot) != nil { return }
            await signal.wait(ticket)
        }
    }

    /// Takes every outcome waiting to be stored, and whether no more will come.
    func takeOutcomes() -> ([JobCompletion], closed: Bool) {
        state.withLock { state in
            let taken = state.outcomes
            state.outcomes.removeAll(keepingCapacity: true)
            return (taken, state.outcomesClosed)
        }
    }

    /// Puts outcomes that could not be stored back in front of the line.
    func requeue(_ outcomes: [JobCompletion]) {
        state.withLock { state in
            state.outcomes.insert(contentsOf: outcomes, at: 0)
        }
    }

    func closeOutcomes() {
        state.withLock { $0.outcomesClosed = true }
        outcomesSignal.signal()
    }

    /// Graceful shutdown: stop claiming; runners finish what is claimed, then exit.
    func beginDrain() {
        let changed: Bool = state.withLock { state in
            guard state.phase == .running else { return false }
            state.phase = .draining
            return true
        }
        if changed { signalAll() }
    }

    /// The drain is over: hand back every claimed job no runner has started.
    func forceStop(at now: Date) {
        state.withLock { state in
            guard state.phase != .stopping else { return }
            state.phase = .stopping
            let waiting = state.buffer
            state.buffer.removeAll()
            for job in waiting {
                state.busy -= 1
                if tracksQueues { state.busyByQueue[job.queue, default: 1] -= 1 }
                state.outcomes.append(JobCompletion(id: job.id, outcome: .handBack, at: now))
            }
            state.stats.handedBack += waiting.count
        }
        signalAll()
    }

    private func signalAll() {
        jobsSignal.signal()
        slotsSignal.signal()
        phaseSignal.signal()
        outcomesSignal.signal()
    }

    /// Suspends until the phase leaves `running` (or the task is cancelled).
    func waitUntilNotRunning() async {
        while !Task.isCancelled {
            let ticket = phaseSignal.ticket()
            if phase != .running { return }
            await phaseSignal.wait(ticket)
        }
    }

    /// The heartbeats to send: every lease held (claimed jobs waiting for a runner, and running
    /// jobs whose outcome is not yet recorded), with the latest progress of each.
    func heartbeats() -> [JobHeartbeat] {
        state.withLock { state in
            var beats = state.buffer.map { JobHeartbeat(id: $0.id, progress: nil) }
            for case .running(let id) in state.slots {
                beats.append(JobHeartbeat(id: id, progress: state.progress[id]))
            }
            return beats
        }
    }

    /// Keeps the progress of the job running in `slot`, while its lease is held.
    func report(_ progress: JobProgress, for id: JobID, slot: Int) {
        state.withLock { state in
            guard state.slots.indices.contains(slot), state.slots[slot] == .running(id) else { return }
            state.progress[id] = progress
        }
    }

    /// Counts a running job cancelled through the storage (its outcome is not stored).
    func countCancelled() {
        state.withLock { $0.stats.cancelled += 1 }
    }

    var stats: WorkerStats {
        state.withLock { state in
            var stats = state.stats
            stats.inFlight = state.busy
            return stats
        }
    }
}

extension WorkerStats {
    init() {
        self.init(succeeded: 0, failed: 0, retried: 0, dead: 0, timedOut: 0, snoozed: 0, cancelled: 0, handedBack: 0, inFlight: 0)
    }

    mutating func count(_ outcome: JobCompletion.Outcome, timedOut wasTimedOut: Bool) {
        switch outcome {
        case .succeeded: succeeded += 1
        case .retry:
            failed += 1
            retried += 1
        case .dead:
            failed += 1
            dead += 1
        case .snooze: snoozed += 1
        case .cancelled: cancelled += 1
        case .handBack: handedBack += 1
        }
        if wasTimedOut { timedOut += 1 }
    }
}
