import Foundation
@testable import Spool
import Testing

extension WorkerCoreTests {
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
}
