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

    // MARK: Push

    @Test("push: claimed jobs join the buffer in order, take slots, hold leases, and wake a runner")
    func pushBuffersJobs() {
        let core = Harness(concurrency: 4, queues: [WorkerQueue("a", concurrency: 3)])
        let first = Self.jobs(2, queue: "a")
        let wakes = core.watch { core.push(first) }
        #expect(wakes == [.runners])
        let state = core.state
        #expect(state.buffer.map(\.id) == first.map(\.id))
        #expect(state.busy == 2)
        #expect(state.busyByQueue == ["a": 2])
        #expect(state.runnerWakePending)
        #expect(state.slots == [.idle, .idle, .idle, .idle])
        #expect(core.core.stats.inFlight == 2)
        #expect(core.core.heartbeats().map(\.id) == first.map(\.id))
        #expect(core.core.heartbeats().allSatisfy { $0.progress == nil })
        // A runner is on its way: the signal is still bumped, so one about to park sees the jobs.
        let second = Self.job("a")
        #expect(core.watch { core.push([second]) } == [.runners])
        #expect(core.state.buffer.map(\.id) == (first + [second]).map(\.id))
        #expect(core.state.runnerWakePending)
    }

    @Test("push: nothing claimed changes nothing and wakes nobody")
    func pushNothing() {
        let core = Harness(concurrency: 2, queues: ["default"])
        #expect(core.watch { core.push([]) }.isEmpty)
        #expect(core.state.busy == 0)
        #expect(!core.state.runnerWakePending)
    }

    @Test("push: jobs claimed while shutdown began are handed back at once, not buffered", arguments: [false, true])
    func pushOutsideRunningHandsBack(forceStop: Bool) {
        let core = Harness(concurrency: 4, queues: [WorkerQueue("a", concurrency: 4)])
        if forceStop { core.core.forceStop(at: Self.now) } else { core.core.beginDrain() }
        let late = Self.jobs(2, queue: "a")
        let at = Self.now.addingTimeInterval(5)
        #expect(core.watch { core.core.push(late, at: at) } == [.flusher])
        let state = core.state
        #expect(state.buffer.isEmpty)
        #expect(state.busy == 0)
        #expect(state.busyByQueue.values.allSatisfy { $0 == 0 })
        #expect(state.outcomes.map(\.id) == late.map(\.id))
        #expect(state.outcomes.allSatisfy { $0.outcome.label == "handed_back" && $0.at == at })
        #expect(core.core.stats.handedBack == 2)
        #expect(core.core.stats.inFlight == 0)
    }

    // MARK: Runner steps

    @Test("step: a runner takes the buffered jobs in claim order; a running job keeps its slot")
    func stepTakesJobsInOrder() {
        let core = Harness(concurrency: 4, queues: ["default"])
        let claimed = Self.jobs(3)
        core.push(claimed)
        #expect(core.step(slot: 0) == .run(claimed[0].id))
        #expect(core.step(slot: 1) == .run(claimed[1].id))
        let state = core.state
        #expect(state.slots == [.running(claimed[0].id), .running(claimed[1].id), .idle, .idle])
        #expect(state.buffer.map(\.id) == [claimed[2].id])
        #expect(state.busy == 3)
        #expect(Set(core.core.heartbeats().map(\.id)) == Set(claimed.map(\.id)))
    }

    @Test("step: finishing a job stores its outcome, gives its slot back and takes the next in one go")
    func stepFinishesAndTakesNext() {
        let core = Harness(concurrency: 4, queues: ["default"])
        let claimed = Self.jobs(2)
        core.push(claimed)
        _ = core.step(slot: 0)
        var (step, wakes) = core.stepWatching(slot: 0, releasing: claimed[0], outcome: .succeeded(result: nil))
        #expect(step == .run(claimed[1].id))
        // The first outcome of a batch wakes the flusher; the worker was not full, the buffer
        // did not fall to the low-water mark: the claimer sleeps on.
        #expect(wakes == [.flusher])
        var state = core.state
        #expect(state.outcomes.map(\.id) == [claimed[0].id])
        #expect(state.slots[0] == .running(claimed[1].id))
        #expect(state.busy == 1)
        #expect(state.stats.succeeded == 1)
        // The next outcome joins the batch without waking the flusher again; the runner,
        // finding nothing, goes idle and wakes the claimer.
        (step, wakes) = core.stepWatching(slot: 0, releasing: claimed[1], outcome: .succeeded(result: nil))
        #expect(step == .wait)
        #expect(wakes == [.claimer])
        state = core.state
        #expect(state.outcomes.map(\.id) == claimed.map(\.id))
        #expect(state.slots[0] == .idle)
        #expect(state.busy == 0)
        #expect(state.stats.succeeded == 2)
    }

    @Test("step: with nothing buffered the runner waits, clearing any pending runner wake")
    func stepWaitsWhenBufferEmpty() {
        let core = Harness(concurrency: 2, queues: ["default"])
        let (step, wakes) = core.stepWatching(slot: 0)
        #expect(step == .wait)
        #expect(wakes == [.claimer])
        // A runner that takes a job without coming back from a wait leaves the pending wake
        // for the runner on its way; one that then goes idle clears it.
        let claimed = Self.job()
        core.push([claimed])
        #expect(core.step(slot: 1) == .run(claimed.id))
        #expect(core.state.runnerWakePending)
        #expect(core.step(slot: 1, releasing: claimed, outcome: .succeeded(result: nil)) == .wait)
        #expect(!core.state.runnerWakePending)
    }

    @Test("step: giving back a slot of a full worker wakes the claimer; of a worker with room, not")
    func stepWakesClaimerWhenWorkerWasFull() {
        let full = Harness(concurrency: 2, queues: ["default"])
        let claimed = Self.jobs(2)
        full.push(claimed)
        _ = full.step(slot: 0)
        let (step, wakes) = full.stepWatching(slot: 0, releasing: claimed[0], outcome: .succeeded(result: nil))
        #expect(step == .run(claimed[1].id))
        #expect(wakes.contains(.claimer))

        let roomy = Harness(concurrency: 3, queues: ["default"])
        let others = Self.jobs(2)
        roomy.push(others)
        _ = roomy.step(slot: 0)
        let (next, quiet) = roomy.stepWatching(slot: 0, releasing: others[0], outcome: .succeeded(result: nil))
        #expect(next == .run(others[1].id))
        #expect(!quiet.contains(.claimer))
    }

    @Test("step: taking the job that brings the buffer down to the low-water mark wakes the claimer")
    func stepWakesClaimerAtLowWater() {
        let core = Harness(concurrency: 4, queues: ["default"])
        core.push(Self.jobs(4))
        // Buffer 4 → 3, 2 (the low-water mark, concurrency / 2), 1, 0.
        let claimerWoken = (0..<4).map { slot in core.stepWatching(slot: slot).wakes.contains(.claimer) }
        #expect(claimerWoken == [false, true, false, false])
    }

    @Test("step: idle runners are woken in a chain, one at a time")
    func stepWakesRunnersInAChain() {
        let core = Harness(concurrency: 4, queues: ["default"])
        let claimed = Self.jobs(3)
        core.push(claimed)
        #expect(core.state.runnerWakePending)
        // The woken runner arrives, takes a job and, jobs being left, wakes the next.
        var (step, wakes) = core.stepWatching(slot: 0, afterWait: true)
        #expect(step == .run(claimed[0].id))
        #expect(wakes.contains(.runners))
        #expect(core.state.runnerWakePending)
        // A busy runner takes the next job while that one is on its way: no further wake.
        (step, wakes) = core.stepWatching(slot: 1)
        #expect(step == .run(claimed[1].id))
        #expect(!wakes.contains(.runners))
        // The woken one takes the last: nothing left, nobody else is woken.
        (step, wakes) = core.stepWatching(slot: 2, afterWait: true)
        #expect(step == .run(claimed[2].id))
        #expect(!wakes.contains(.runners))
        #expect(!core.state.runnerWakePending)
    }

    // MARK: Recording outcomes outside a step (timeouts)

    @Test("record: a timeout is stored at its deadline once; the handler keeps its slot, its lease is no longer renewed")
    func recordAtDeadline() {
        let core = Harness(concurrency: 2, queues: ["default"])
        let claimed = Self.jobs(2)
        core.push(claimed)
        _ = core.step(slot: 0)
        core.core.report(JobProgress(fraction: 0.5), for: claimed[0].id, slot: 0)
        let timeout = JobCompletion(id: claimed[0].id, outcome: .dead(error: Self.failure), at: Self.now)
        var recorded = false
        let wakes = core.watch { recorded = core.core.record(timeout, slot: 0, timedOut: true) }
        #expect(recorded)
        #expect(wakes == [.flusher])
        var state = core.state
        #expect(state.slots[0] == .recorded(claimed[0].id))
        #expect(state.outcomes.map(\.id) == [claimed[0].id])
        #expect(state.progress.isEmpty)
        #expect(state.busy == 2)
        #expect(state.stats.failed == 1 && state.stats.dead == 1 && state.stats.timedOut == 1)
        #expect(core.core.heartbeats().map(\.id) == [claimed[1].id])
        // A second outcome for the same run is refused.
        #expect(!core.core.record(timeout, slot: 0, timedOut: true))
        #expect(core.state.outcomes.count == 1)
        // Its lease is no longer this worker's: a loss reported for it changes nothing.
        #expect(core.core.loseLeases([claimed[0].id: .lost]).isEmpty)
        #expect(core.state.slots[0] == .recorded(claimed[0].id))
        // The handler returns late (the runner passes no outcome): the slot goes to the next job.
        #expect(core.step(slot: 0, releasing: claimed[0]) == .run(claimed[1].id))
        state = core.state
        #expect(state.busy == 1)
        #expect(state.outcomes.count == 1)
    }

    @Test("record: refused for a slot that does not run the job")
    func recordRefusedForAnotherSlot() {
        let core = Harness(concurrency: 2, queues: ["default"])
        let claimed = Self.job()
        core.push([claimed])
        _ = core.step(slot: 0)
        let completion = JobCompletion(id: claimed.id, outcome: .succeeded(result: nil), at: Self.now)
        #expect(!core.core.record(completion, slot: 1, timedOut: false))
        #expect(core.state.outcomes.isEmpty)
        #expect(core.state.stats.succeeded == 0, "a refused record is not counted")
        #expect(core.state.slots == [.running(claimed.id), .idle])
    }

    // MARK: Progress

    @Test("progress: kept for the job running in the slot only, sent with its heartbeat, dropped with its outcome")
    func progressFollowsTheRunningJob() {
        let core = Harness(concurrency: 2, queues: ["default"])
        let claimed = Self.jobs(2)
        core.push(claimed)
        _ = core.step(slot: 0)
        let half = JobProgress(fraction: 0.5, message: "half")
        core.core.report(half, for: claimed[0].id, slot: 0)
        core.core.report(JobProgress(fraction: 0.9), for: claimed[1].id, slot: 0)  // not running there
        core.core.report(JobProgress(fraction: 0.9), for: claimed[1].id, slot: 1)  // idle slot
        core.core.report(JobProgress(fraction: 0.9), for: claimed[0].id, slot: 7)  // no such slot
        #expect(core.state.progress == [claimed[0].id: half])
        let beats = Dictionary(uniqueKeysWithValues: core.core.heartbeats().map { ($0.id, $0.progress) })
        #expect(beats == [claimed[0].id: half, claimed[1].id: nil])
        _ = core.step(slot: 0, releasing: claimed[0], outcome: .succeeded(result: nil))
        #expect(core.state.progress.isEmpty)
    }

    // MARK: Lease loss

    @Test("lease loss: a buffered job is dropped (it never runs), its slot freed, the claimer woken; reported once")
    func leaseLostWhileBuffered() {
        let core = Harness(concurrency: 4, queues: [WorkerQueue("a", concurrency: 3)])
        let claimed = Self.jobs(3, queue: "a")
        core.push(claimed)
        var affected: [(id: JobID, running: Bool)] = []
        let wakes = core.watch { affected = core.core.loseLeases([claimed[1].id: .cancelled, claimed[2].id: .lost]) }
        #expect(Set(affected.map(\.id)) == [claimed[1].id, claimed[2].id])
        #expect(affected.allSatisfy { !$0.running })
        #expect(wakes == [.claimer])
        let state = core.state
        #expect(state.buffer.map(\.id) == [claimed[0].id])
        #expect(state.busy == 1)
        #expect(state.busyByQueue == ["a": 1])
        #expect(state.stats.cancelled == 1, "a cancel is counted; a rescue or delete is not")
        #expect(core.core.heartbeats().map(\.id) == [claimed[0].id])
        // Reported (and counted) once.
        #expect(core.core.loseLeases([claimed[1].id: .cancelled, claimed[2].id: .lost]).isEmpty)
        #expect(core.state.stats.cancelled == 1)
        // The runners see only the job still held.
        #expect(core.step(slot: 0) == .run(claimed[0].id))
        #expect(core.step(slot: 1) == .wait)
    }

    @Test("lease loss: a running job's slot is marked lost and woken; the handler keeps the slot until its runner is replaced")
    func leaseLostWhileRunning() {
        let core = Harness(concurrency: 2, queues: ["default"])
        let claimed = Self.jobs(2)
        core.push(claimed)
        _ = core.step(slot: 0)
        core.core.report(JobProgress(fraction: 0.3), for: claimed[0].id, slot: 0)
        let slotTickets = core.core.slotSignals.map { $0.ticket() }
        var affected: [(id: JobID, running: Bool)] = []
        let wakes = core.watch { affected = core.core.loseLeases([claimed[0].id: .cancelled]) }
        #expect(affected.map(\.id) == [claimed[0].id])
        #expect(affected.map(\.running) == [true])
        #expect(wakes.isEmpty, "no slot is free yet: the claimer is not woken")
        #expect(zip(slotTickets, core.core.slotSignals.map { $0.ticket() }).map { $0 != $1 } == [true, false])
        var state = core.state
        #expect(state.slots[0] == .lost(claimed[0].id, .cancelled))
        #expect(state.busy == 2)
        #expect(state.progress.isEmpty)
        #expect(state.stats.cancelled == 0, "counted by the worker when the handler returns (countCancelled)")
        #expect(core.core.leaseLoss(slot: 0) == .cancelled)
        #expect(core.core.leaseLoss(slot: 1) == nil)
        #expect(core.core.heartbeats().map(\.id) == [claimed[1].id])
        // Reported once; the first reason stands.
        #expect(core.core.loseLeases([claimed[0].id: .lost]).isEmpty)
        #expect(core.core.leaseLoss(slot: 0) == .cancelled)
        // The handler returns (nothing to store): the runner ends without taking a job.
        #expect(core.step(slot: 0, releasing: claimed[0]) == .replace)
        state = core.state
        #expect(state.slots[0] == .idle)
        #expect(state.busy == 1)
        #expect(state.buffer.map(\.id) == [claimed[1].id])
        #expect(core.core.leaseLoss(slot: 0) == nil)
        // The slot's fresh runner takes the next job.
        #expect(core.step(slot: 0) == .run(claimed[1].id))
    }

    @Test("lease loss: the outcome of a run whose lease was lost is not stored")
    func leaseLostOutcomeDropped() {
        let core = Harness(concurrency: 2, queues: ["default"])
        let claimed = Self.job()
        core.push([claimed])
        _ = core.step(slot: 0)
        _ = core.core.loseLeases([claimed.id: .lost])
        let (step, wakes) = core.stepWatching(slot: 0, releasing: claimed, outcome: .succeeded(result: nil))
        #expect(step == .replace)
        #expect(!wakes.contains(.flusher))
        #expect(core.state.outcomes.isEmpty)
        #expect(core.state.busy == 0)
        #expect(core.state.stats.succeeded == 0, "an outcome that is not stored is not counted")
    }

    @Test("lease loss: ids this worker does not hold are ignored")
    func leaseLostForUnknownJob() {
        let core = Harness(concurrency: 2, queues: ["default"])
        let claimed = Self.job()
        core.push([claimed])
        var affected: [(id: JobID, running: Bool)] = []
        #expect(core.watch { affected = core.core.loseLeases([Self.job().id: .cancelled]) }.isEmpty)
        #expect(affected.isEmpty)
        #expect(core.state.buffer.map(\.id) == [claimed.id])
        #expect(core.state.stats.cancelled == 0)
    }

    // MARK: Drain

    @Test("drain: claiming stops, buffered jobs still run (not handed back), runners exit once the buffer is empty")
    func drainRunsWhatIsClaimed() {
        let core = Harness(concurrency: 4, queues: ["default"])
        let claimed = Self.jobs(3)
        core.push(claimed)
        _ = core.step(slot: 0)
        let wakes = core.watch { core.core.beginDrain() }
        #expect(wakes == [.runners, .claimer, .flusher, .phase])
        #expect(core.core.phase == .draining)
        #expect(core.decision() == .stop)
        var state = core.state
        #expect(state.buffer.map(\.id) == [claimed[1].id, claimed[2].id])
        #expect(state.outcomes.isEmpty)
        #expect(state.stats.handedBack == 0)
        // Leases of buffered and running jobs are still held (heartbeats go on).
        #expect(Set(core.core.heartbeats().map(\.id)) == Set(claimed.map(\.id)))
        #expect(core.step(slot: 0, releasing: claimed[0], outcome: .succeeded(result: nil)) == .run(claimed[1].id))
        #expect(core.step(slot: 1) == .run(claimed[2].id))
        #expect(core.step(slot: 2) == .exit)
        #expect(core.step(slot: 0, releasing: claimed[1], outcome: .succeeded(result: nil)) == .exit)
        state = core.state
        #expect(state.outcomes.map(\.id) == [claimed[0].id, claimed[1].id])
        #expect(state.outcomes.allSatisfy { $0.outcome.label == "succeeded" })
        #expect(state.slots == [.idle, .running(claimed[2].id), .idle, .idle])
        #expect(state.busy == 1)
    }

    @Test("drain: only from running; a second drain, or one after a force stop, changes nothing and wakes nobody")
    func drainOnlyFromRunning() {
        let core = Harness(concurrency: 2, queues: ["default"])
        core.core.beginDrain()
        #expect(core.watch { core.core.beginDrain() }.isEmpty)
        #expect(core.core.phase == .draining)
        let stopped = Harness(concurrency: 2, queues: ["default"])
        stopped.core.forceStop(at: Self.now)
        #expect(stopped.watch { stopped.core.beginDrain() }.isEmpty)
        #expect(stopped.core.phase == .stopping)
    }

    // MARK: Force stop

    @Test(
        "force stop: buffered jobs are handed back at once; running ones keep their slots and report their own outcome",
        arguments: [false, true])
    func forceStopHandsBackBuffered(afterDrain: Bool) {
        let core = Harness(concurrency: 4, queues: [WorkerQueue("a", concurrency: 4)])
        let claimed = Self.jobs(3, queue: "a")
        core.push(claimed)
        _ = core.step(slot: 0)
        if afterDrain { core.core.beginDrain() }
        let at = Self.now.addingTimeInterval(25)
        let wakes = core.watch { core.core.forceStop(at: at) }
        #expect(wakes == [.runners, .claimer, .flusher, .phase])
        #expect(core.core.phase == .stopping)
        var state = core.state
        #expect(state.buffer.isEmpty)
        #expect(state.busy == 1)
        #expect(state.busyByQueue == ["a": 1])
        #expect(state.outcomes.map(\.id) == [claimed[1].id, claimed[2].id])
        #expect(state.outcomes.allSatisfy { $0.outcome.label == "handed_back" && $0.at == at })
        #expect(state.stats.handedBack == 2)
        #expect(state.slots[0] == .running(claimed[0].id))
        #expect(core.core.stats.inFlight == 1)
        #expect(core.core.heartbeats().map(\.id) == [claimed[0].id])
        // Idle runners exit; the running one's handler, cancelled, hands its job back too.
        #expect(core.step(slot: 1) == .exit)
        #expect(core.step(slot: 0, releasing: claimed[0], outcome: .handBack) == .exit)
        state = core.state
        #expect(state.outcomes.map(\.id) == [claimed[1].id, claimed[2].id, claimed[0].id])
        #expect(state.stats.handedBack == 3)
        #expect(state.busy == 0)
        #expect(state.busyByQueue == ["a": 0])
    }

    @Test("force stop: a second one hands back nothing more")
    func forceStopIsIdempotent() {
        let core = Harness(concurrency: 4, queues: ["default"])
        core.push(Self.jobs(2))
        core.core.forceStop(at: Self.now)
        core.core.forceStop(at: Self.now)
        #expect(core.state.outcomes.count == 2)
        #expect(core.core.stats.handedBack == 2)
        #expect(core.core.phase == .stopping)
    }

    // MARK: Outcomes for the flusher

    @Test("outcomes: taken as one batch in order; a failed batch goes back in front; closing ends the line")
    func outcomesTakenInBatches() {
        let core = Harness(concurrency: 4, queues: ["default"])
        let claimed = Self.jobs(4)
        core.push(claimed)
        var previous: ClaimedJob?
        for job in claimed.prefix(3) {
            _ = core.step(slot: 0, releasing: previous, outcome: previous.map { _ in .succeeded(result: nil) })
            previous = job
        }
        _ = core.step(slot: 0, releasing: previous, outcome: .succeeded(result: nil))
        // Three stored, the fourth is running.
        var (batch, closed) = core.core.takeOutcomes()
        #expect(batch.map(\.id) == claimed.prefix(3).map(\.id))
        #expect(!closed)
        #expect(core.core.takeOutcomes().0.isEmpty)
        // The line is empty again: the next outcome wakes the flusher.
        let (_, wakes) = core.stepWatching(slot: 0, releasing: claimed[3], outcome: .succeeded(result: nil))
        #expect(wakes.contains(.flusher))
        core.core.requeue(Array(batch.prefix(2)))
        (batch, closed) = core.core.takeOutcomes()
        #expect(batch.map(\.id) == [claimed[0].id, claimed[1].id, claimed[3].id])
        #expect(!closed)
        #expect(core.watch { core.core.closeOutcomes() } == [.flusher])
        (batch, closed) = core.core.takeOutcomes()
        #expect(batch.isEmpty)
        #expect(closed)
    }

    // MARK: Counters

    static let outcomeCounts: [(JobCompletion.Outcome, WorkerStats)] = [
        (.succeeded(result: nil), stats { $0.succeeded = 1 }),
        (
            .retry(at: now, error: failure),
            stats {
                $0.failed = 1; $0.retried = 1
            }
        ),
        (
            .dead(error: failure),
            stats {
                $0.failed = 1; $0.dead = 1
            }
        ),
        (.snooze(until: now), stats { $0.snoozed = 1 }),
        (.cancelled(reason: "cancelled"), stats { $0.cancelled = 1 }),
        (.handBack, stats { $0.handedBack = 1 }),
    ]

    static func stats(_ change: (inout WorkerStats) -> Void) -> WorkerStats {
        var stats = WorkerStats()
        change(&stats)
        return stats
    }

    @Test("stats: each outcome a runner reports is counted under its own counters", arguments: WorkerCoreTests.outcomeCounts)
    func statsCountOutcomes(outcome: JobCompletion.Outcome, expected: WorkerStats) {
        let core = Harness(concurrency: 1, queues: ["default"])
        let claimed = Self.job()
        core.push([claimed])
        _ = core.step(slot: 0)
        _ = core.step(slot: 0, releasing: claimed, outcome: outcome)
        #expect(core.core.stats == expected)
    }

    @Test("stats: in flight is buffered plus running; a timeout also counts as timed out; countCancelled counts a cancel")
    func statsInFlightAndTimeouts() {
        let core = Harness(concurrency: 4, queues: ["default"])
        let claimed = Self.jobs(3)
        core.push(claimed)
        _ = core.step(slot: 0)
        #expect(core.core.stats.inFlight == 3)
        core.core.record(
            JobCompletion(id: claimed[0].id, outcome: .retry(at: Self.now, error: Self.failure), at: Self.now), slot: 0, timedOut: true)
        #expect(core.core.stats.inFlight == 3, "a timed-out handler holds its slot until it returns")
        _ = core.step(slot: 0, releasing: claimed[0])
        #expect(core.core.stats.inFlight == 2)
        _ = core.core.loseLeases([claimed[2].id: .lost])
        #expect(core.core.stats.inFlight == 1)
        core.core.countCancelled()
        #expect(
            core.core.stats
                == Self.stats {
                    $0.failed = 1
                    $0.retried = 1
                    $0.timedOut = 1
                    $0.cancelled = 1
                    $0.inFlight = 1
                })
    }
}

/// A ``WorkerCore`` and the queues its claimer serves, with comparable views of what it decides.
private struct Harness {
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
