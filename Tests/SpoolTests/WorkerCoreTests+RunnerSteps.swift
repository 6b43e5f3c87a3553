import Foundation
@testable import Spool
import Testing

extension WorkerCoreTests {
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
}
