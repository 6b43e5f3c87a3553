import Foundation
import Spool
import SpoolTesting
import Synchronization
import Testing

@Suite("Manual clock")
struct ManualClockTests {
    @Test func sleepersWakeOnlyWhenTheClockPassesTheirDeadline() async throws {
        let clock = ManualClock()
        let woke = EventRecorder<Int>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for seconds in [10, 20] {
                group.addTask {
                    try await clock.sleep(for: .seconds(seconds))
                    woke.record(seconds)
                }
            }
            try await clock.waitForSleepers(atLeast: 2)
            clock.advance(by: .seconds(15))
            try await woke.waitForCount(1)
            #expect(woke.all == [10])
            #expect(clock.sleeperCount == 1)
            clock.advance(by: .seconds(5))
            try await woke.waitForCount(2)
            #expect(woke.all == [10, 20])
            try await group.waitForAll()
        }
    }

    @Test func aPastDeadlineReturnsAtOnceAndCancellationThrows() async throws {
        let clock = ManualClock()
        try await clock.sleep(until: clock.now.addingTimeInterval(-1))
        let sleeper = Task { try await clock.sleep(for: .seconds(60)) }
        try await clock.waitForSleepers(atLeast: 1)
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }

    @Test func timeNeverGoesBack() {
        let clock = ManualClock()
        let start = clock.now
        clock.advance(to: start.addingTimeInterval(-100))
        #expect(clock.now == start)
    }
}

@Suite("Expectations")
struct ExpectationTests {
    @Test func eventuallyGivesUpWithATimeout() async {
        let error = await #expect(throws: ExpectationTimeout.self) {
            // A condition that waits for an event nobody signals: only the deadline ends it.
            let never = WakeSignal()
            try await Expectation.eventually(timeout: .milliseconds(50), "something that never happens") {
                await never.wait(never.ticket())
                return false
            }
        }
        #expect(error?.description.contains("something that never happens") == true)
    }

    @Test func pollChecksUntilTheConditionHoldsOrGivesUp() async throws {
        let checks = Atomic<Int>(0)
        try await Expectation.poll(every: .milliseconds(1), "the third check") {
            checks.wrappingAdd(1, ordering: .relaxed).newValue >= 3
        }
        #expect(checks.load(ordering: .relaxed) == 3)
        let error = await #expect(throws: ExpectationTimeout.self) {
            try await Expectation.poll(every: .milliseconds(5), timeout: .milliseconds(50), "a state that never comes") { false }
        }
        #expect(error?.description.contains("a state that never comes") == true)
    }

    @Test func checkFailsWithItsMessage() {
        let error = #expect(throws: ConformanceFailure.self) { try check(1 + 1 == 3, "arithmetic") }
        #expect(error?.message == "arithmetic")
    }
}
