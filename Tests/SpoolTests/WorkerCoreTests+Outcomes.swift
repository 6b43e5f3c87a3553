import Foundation
@testable import Spool
import Testing

extension WorkerCoreTests {
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
