import Foundation
@testable import Spool
import Testing

extension WorkerCoreTests {
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
}
