import Foundation
@testable import Spool
import Testing

/// Direct tests of ``WorkerCore``'s transitions: each test drives the core by hand, synchronously
/// (no worker, no task, no sleep), and checks the state after each step. Wake-ups are read from
/// the signals' tickets: a ticket taken before a transition differs from one taken after it
/// exactly when the transition signalled.
@Suite("WorkerCore transitions")
struct WorkerCoreTests {
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    static func job(_ queue: String = "default") -> ClaimedJob {
        ClaimedJob(
            id: JobID(date: now), queue: queue, kind: "test.core", payload: JobPayload(bytes: Array("{}".utf8)), priority: 0,
            attempt: 1, maxAttempts: 3, createdAt: now, runAt: now, timeout: nil, metadata: [:]
        )
    }

    static func jobs(_ count: Int, queue: String = "default") -> [ClaimedJob] {
        (0..<count).map { _ in job(queue) }
    }

    static let failure = JobAttemptError(attempt: 1, at: now, message: "boom")

    // MARK: Claim decisions

    @Test("claim: a fresh worker asks for every free slot, from each queue in order of preference")
    func claimAsksForEveryFreeSlot() {
        let core = Harness(concurrency: 4, queues: ["a", "b"])
        #expect(core.decision() == .claim(limit: 4, demands: [.init(queue: "a", limit: 4), .init(queue: "b", limit: 4)], weighted: false))
    }

    @Test("claim: buffered jobs take slots, and the claimer waits while more than half the concurrency is buffered")
    func claimComesInBatches() {
        let core = Harness(concurrency: 4, queues: ["default"])
        core.push(Self.jobs(2))
        // Two buffered (the low-water mark, concurrency / 2): claim the two slots left.
        #expect(core.decision() == .claim(limit: 2, demands: [.init(queue: "default", limit: 2)], weighted: false))
        core.push(Self.jobs(1))
        // Three buffered: wait for the runners, unless it is the steal that follows a claim.
        #expect(core.decision() == .wait)
        #expect(core.decision(weighted: false) == .claim(limit: 1, demands: [.init(queue: "default", limit: 1)], weighted: false))
        // A runner takes one: back at the low-water mark, the running job still holds its slot.
        #expect(core.step(slot: 0).isRun)
        #expect(core.decision() == .claim(limit: 1, demands: [.init(queue: "default", limit: 1)], weighted: false))
    }

    @Test("claim: a full worker waits")
    func claimWaitsWhenFull() {
        let core = Harness(concurrency: 2, queues: ["default"])
        core.push(Self.jobs(2))
        #expect(core.step(slot: 0).isRun)
        #expect(core.step(slot: 1).isRun)
        #expect(core.decision() == .wait)
        #expect(core.decision(weighted: false) == .wait)
    }

    @Test("claim: a queue's own concurrency counts its buffered and running jobs; a capped queue drops out of the demands")
    func claimRespectsQueueCaps() {
        let core = Harness(concurrency: 6, queues: [WorkerQueue("a", concurrency: 2), "b"])
        let first = Self.job("a")
        core.push([first])
        #expect(core.decision() == .claim(limit: 5, demands: [.init(queue: "a", limit: 1), .init(queue: "b", limit: 5)], weighted: false))
        core.push([Self.job("a")])
        #expect(core.state.busyByQueue == ["a": 2])
        #expect(core.decision() == .claim(limit: 4, demands: [.init(queue: "b", limit: 4)], weighted: false))
        // Running still counts against the cap; finishing frees it.
        #expect(core.step(slot: 0) == .run(first.id))
        #expect(core.decision() == .claim(limit: 4, demands: [.init(queue: "b", limit: 4)], weighted: false))
        #expect(core.step(slot: 0, releasing: first, outcome: .succeeded(result: nil)).isRun)
        #expect(core.state.busyByQueue == ["a": 1])
        #expect(core.decision() == .claim(limit: 5, demands: [.init(queue: "a", limit: 1), .init(queue: "b", limit: 5)], weighted: false))
    }

    @Test("claim: with every queue at its own cap the claimer waits, though slots are free")
    func claimWaitsWhenEveryQueueIsCapped() {
        let core = Harness(concurrency: 4, queues: [WorkerQueue("a", concurrency: 1)])
        core.push([Self.job("a")])
        #expect(core.decision() == .wait)
    }

    @Test("claim: without a queue cap no per-queue counts are kept")
    func claimKeepsNoQueueCountsWithoutCaps() {
        let core = Harness(concurrency: 4, queues: ["a", WorkerQueue("b", weight: 2)])
        core.push([Self.job("a"), Self.job("b")])
        #expect(!core.core.tracksQueues)
        #expect(core.state.busyByQueue.isEmpty)
        #expect(core.state.busy == 2)
    }

    @Test("claim: weighted queues split the free slots by weight; the steal that follows asks every queue for all of them")
    func claimSplitsByWeight() {
        let core = Harness(concurrency: 4, queues: [WorkerQueue("a", weight: 3), WorkerQueue("b", weight: 1)])
        #expect(core.decision() == .claim(limit: 4, demands: [.init(queue: "a", limit: 3), .init(queue: "b", limit: 1)], weighted: true))
        #expect(
            core.decision(weighted: false)
                == .claim(limit: 4, demands: [.init(queue: "a", limit: 4), .init(queue: "b", limit: 4)], weighted: false))
    }

    @Test("claim: weights with a single queue that has room make an unweighted claim (no steal follows)")
    func claimWithOneQueueLeftIsUnweighted() {
        let core = Harness(concurrency: 4, queues: [WorkerQueue("a", concurrency: 1, weight: 3), WorkerQueue("b", weight: 1)])
        core.push([Self.job("a")])
        #expect(core.decision() == .claim(limit: 3, demands: [.init(queue: "b", limit: 3)], weighted: false))
    }

    @Test("claim: outside the running phase the claimer stops")
    func claimStopsOutsideRunning() {
        let draining = Harness(concurrency: 2, queues: ["default"])
        draining.core.beginDrain()
        #expect(draining.decision() == .stop)
        #expect(draining.decision(weighted: false) == .stop)
        let stopping = Harness(concurrency: 2, queues: ["default"])
        stopping.core.forceStop(at: Self.now)
        #expect(stopping.decision() == .stop)
    }
}

/// A ``WorkerCore`` and the queues its claimer serves, with comparable views of what it decides.
struct Harness {
    let core: WorkerCore
    let queues: [WorkerQueue]

    init(concurrency: Int, queues: [WorkerQueue]) {
        core = WorkerCore(concurrency: concurrency, queues: queues)
        self.queues = queues
    }

    /// A copy of the state behind the lock.
    var state: WorkerCore.State { core.state.withLock { $0 } }

    enum Decision: Equatable {
        case claim(limit: Int, demands: [QueueDemand], weighted: Bool)
        case wait
        case stop
    }

    func decision(weighted: Bool = true) -> Decision {
        switch core.claimDecision(queues: queues, weighted: weighted) {
        case .claim(let limit, let demands, let weighted): return .claim(limit: limit, demands: demands, weighted: weighted)
        case .wait: return .wait
        case .stop: return .stop
        }
    }

    func push(_ jobs: [ClaimedJob]) {
        core.push(jobs, at: WorkerCoreTests.now)
    }

    enum Step: Equatable {
        case run(JobID)
        case wait
        case exit
        case replace

        var isRun: Bool {
            if case .run = self { return true }
            return false
        }
    }

    /// One runner step: finishes `finished` (with `outcome`, if any) and takes the next job.
    func step(slot: Int, releasing finished: ClaimedJob? = nil, outcome: JobCompletion.Outcome? = nil, afterWait: Bool = false) -> Step {
        let completion = finished.flatMap { job in outcome.map { JobCompletion(id: job.id, outcome: $0, at: WorkerCoreTests.now) } }
        switch core.nextStep(slot: slot, releasing: finished, outcome: completion, afterWait: afterWait) {
        case .run(let job): return .run(job.id)
        case .wait: return .wait
        case .exit: return .exit
        case .replace: return .replace
        }
    }

    func stepWatching(
        slot: Int, releasing finished: ClaimedJob? = nil, outcome: JobCompletion.Outcome? = nil, afterWait: Bool = false
    ) -> (step: Step, wakes: Set<Wake>) {
        var step = Step.wait
        let wakes = watch { step = self.step(slot: slot, releasing: finished, outcome: outcome, afterWait: afterWait) }
        return (step, wakes)
    }

    /// Who a transition woke.
    enum Wake: Hashable {
        /// Runners (`jobsSignal`).
        case runners
        /// The claimer (`slotsSignal`).
        case claimer
        /// The flusher (`outcomesSignal`).
        case flusher
        /// Waiters for the phase to leave `running` (`phaseSignal`).
        case phase
    }

    func watch(_ body: () -> Void) -> Set<Wake> {
        let signals: [(Wake, WakeSignal)] = [
            (.runners, core.jobsSignal), (.claimer, core.slotsSignal), (.flusher, core.outcomesSignal), (.phase, core.phaseSignal),
        ]
        let before = signals.map { $0.1.ticket() }
        body()
        return Set(zip(signals, before).compactMap { signal, ticket in signal.1.ticket() == ticket ? nil : signal.0 })
    }
}
