import Foundation
@testable import Spool
import Testing

extension WorkerCoreTests {
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
}
