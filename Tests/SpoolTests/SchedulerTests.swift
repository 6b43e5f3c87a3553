import Foundation
import Spool
import SpoolTesting
import Synchronization
import Testing

private struct Report: JobParameters {
    static let kind = "test.report"
    var scope: String
}

/// A leadership gate a test flips.
private final class Flag: LeadershipGate {
    private let value: Mutex<Bool>
    init(_ value: Bool) { self.value = Mutex(value) }
    var isLeader: Bool { value.withLock { $0 } }
    func set(_ leader: Bool) { value.withLock { $0 = leader } }
}

/// Refuses the first `failures` enqueues, as an unreachable storage would.
private final class FailingEnqueues: JobMiddleware {
    private let remaining: Mutex<Int>
    let calls = Atomic<Int>(0)
    init(failures: Int) { remaining = Mutex(failures) }

    func willEnqueue(_ jobs: inout [NewJob]) async throws {
        calls.wrappingAdd(1, ordering: .relaxed)
        let fail = remaining.withLock { remaining in
            remaining -= 1
            return remaining >= 0
        }
        if fail { throw SpoolError(code: .storageUnavailable, message: "storage unreachable (test)") }
    }
}

/// The clock starts at 2030-01-01T00:00:00Z; ticks are minutes after it.
private let start = ManualClock().now

private func minute(_ count: Int) -> Date {
    start.addingTimeInterval(Double(count * 60))
}

private func everyMinute(_ name: String = "report", missedTicks: MissedTickPolicy = .skip) throws -> PeriodicSchedule {
    PeriodicSchedule(name, .cron(try CronExpression("* * * * *")), job: ScheduledJob(Report(scope: name)), missedTicks: missedTicks)
}

/// The stored jobs, earliest run-at first.
private func stored(_ storage: MemoryStorage) async throws -> [JobRecord] {
    try await storage.jobs(JobFilter(), after: nil, limit: 1000).jobs.sorted { $0.runAt < $1.runAt }
}

/// Runs the schedulers while `body` drives the clock; each waits on the clock between ticks.
private func running(
    _ schedulers: [PeriodicScheduler], on clock: ManualClock, _ body: () async throws -> Void
) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for scheduler in schedulers {
            group.addTask { try await scheduler.run() }
        }
        try await clock.waitForSleepers(atLeast: schedulers.count)
        try await body()
        group.cancelAll()
        try await group.waitForAll()
    }
}

extension ManualClock {
    /// Moves the clock and waits until `sleepers` schedulers have handled the move and sleep again.
    fileprivate func advance(by duration: Duration, thenWaitFor sleepers: Int) async throws {
        try await advance(to: now.adding(duration), thenWaitFor: sleepers)
    }

    fileprivate func advance(to date: Date, thenWaitFor sleepers: Int) async throws {
        advance(to: date)
        try await waitForSleepers(atLeast: sleepers)
    }
}

@Suite("Scheduler")
struct SchedulerTests {
    @Test func enqueuesOneJobAtEachTick() async throws {
        let clock = ManualClock()
        let storage = MemoryStorage()
        let scheduler = try PeriodicScheduler(storage: storage, schedules: [everyMinute()], clock: clock, middleware: [])
        try await running([scheduler], on: clock) {
            try await clock.advance(by: .seconds(30), thenWaitFor: 1)
            #expect(try await stored(storage).isEmpty, "no tick before the first minute")
            for tick in 1...3 {
                try await clock.advance(to: minute(tick), thenWaitFor: 1)
            }
        }
        let jobs = try await stored(storage)
        #expect(jobs.map(\.runAt) == [minute(1), minute(2), minute(3)])
        #expect(jobs.compactMap(\.uniqueKey) == [1, 2, 3].map { "schedule:report:\(Int64(minute($0).timeIntervalSince1970 * 1000))" })
        #expect(jobs.allSatisfy { $0.kind == Report.kind && $0.queue == "default" && $0.state == .available })
        #expect(jobs.first?.metadata["spool.schedule"] == "report")
        #expect(jobs.first?.metadata["spool.schedule.tick"] == "2030-01-01T00:01:00.000Z")
        #expect(try jobs.first?.payload.decode(as: Report.self).scope == "report")
    }

    @Test func intervalsTickOnTheirAnchor() async throws {
        let clock = ManualClock(start: minute(0).addingTimeInterval(10))
        let storage = MemoryStorage()
        let schedule = PeriodicSchedule("sweep", .every(.seconds(90)), job: ScheduledJob(kind: "test.sweep"))
        let scheduler = try PeriodicScheduler(storage: storage, schedules: [schedule], clock: clock, middleware: [])
        try await running([scheduler], on: clock) {
            try await clock.advance(to: minute(0).addingTimeInterval(90), thenWaitFor: 1)
            try await clock.advance(to: minute(3), thenWaitFor: 1)
        }
        #expect(try await stored(storage).map(\.runAt) == [90, 180].map { minute(0).addingTimeInterval($0) })
    }

    @Test func twoSchedulersOnOneStorageStoreOneJobPerTick() async throws {
        let clock = ManualClock()
        let storage = MemoryStorage()
        let schedulers = try (0..<2).map { _ in
            try PeriodicScheduler(storage: storage, schedules: [everyMinute()], clock: clock, middleware: [])
        }
        try await running(schedulers, on: clock) {
            for tick in 1...4 {
                try await clock.advance(to: minute(tick), thenWaitFor: 2)
            }
        }
        let jobs = try await stored(storage)
        #expect(jobs.map(\.runAt) == (1...4).map(minute))
        #expect(Set(jobs.compactMap(\.uniqueKey)).count == 4)
    }

    @Test func aTickWhoseJobAlreadyRanIsNotEnqueuedAgain() async throws {
        let clock = ManualClock()
        let storage = MemoryStorage()
        let schedule = try everyMinute()
        // Another process fired minute 1 and its job has already run (it holds no unique key).
        let id = schedule.jobID(forTick: minute(1))
        #expect(id == schedule.jobID(forTick: minute(1)) && id != schedule.jobID(forTick: minute(2)))
        #expect(id != (try everyMinute("other")).jobID(forTick: minute(1)) && id.date == minute(1))
        _ = try await storage.enqueue(
            [NewJob(id: id, kind: Report.kind, payload: JobPayload(bytes: Array("{}".utf8)), runAt: start, createdAt: start)],
            whenFull: .fail, now: start)
        let claimed = try await storage.claim(
            ClaimRequest(demands: [QueueDemand(queue: "default", limit: 1)], worker: "w", lease: .seconds(30)), now: start)
        #expect(claimed.map(\.id) == [id])
        _ = try await storage.finish([JobCompletion(id: id, outcome: .succeeded(result: nil), at: start)], worker: "w")

        let scheduler = try PeriodicScheduler(storage: storage, schedules: [schedule], clock: clock, middleware: [])
        try await running([scheduler], on: clock) {
            try await clock.advance(to: minute(1), thenWaitFor: 1)
            try await clock.advance(to: minute(2), thenWaitFor: 1)
        }
        let jobs = try await stored(storage)
        #expect(jobs.map(\.id) == [id, schedule.jobID(forTick: minute(2))], "minute 1 once (the earlier run), minute 2 new")
        #expect(jobs.map(\.state) == [.succeeded, .available])
    }

    /// Five ticks pass at once: `.skip` runs none of them, `.catchUpOnce` one for the latest.
    @Test(arguments: [(MissedTickPolicy.skip, [6]), (.catchUpOnce, [5, 6])])
    func missedTicks(_ policy: MissedTickPolicy, runAt expected: [Int]) async throws {
        let clock = ManualClock()
        let storage = MemoryStorage()
        let scheduler = try PeriodicScheduler(storage: storage, schedules: [everyMinute(missedTicks: policy)], clock: clock, middleware: [])
        try await running([scheduler], on: clock) {
            try await clock.advance(to: minute(5).addingTimeInterval(20), thenWaitFor: 1)
            #expect(try await stored(storage).map(\.runAt) == expected.dropLast().map(minute))
            try await clock.advance(to: minute(6), thenWaitFor: 1)
        }
        #expect(try await stored(storage).map(\.runAt) == expected.map(minute))
    }

    @Test func aSingleLateTickStillRuns() async throws {
        let clock = ManualClock()
        let storage = MemoryStorage()
        let scheduler = try PeriodicScheduler(storage: storage, schedules: [everyMinute()], clock: clock, middleware: [])
        try await running([scheduler], on: clock) {
            try await clock.advance(to: minute(1).addingTimeInterval(50), thenWaitFor: 1)
            try await clock.advance(to: minute(2), thenWaitFor: 1)
        }
        #expect(try await stored(storage).map(\.runAt) == [minute(1), minute(2)])
    }

    @Test func aFollowerNeverEnqueuesAndALeaderDoesNotReplayItsTicks() async throws {
        let clock = ManualClock()
        let storage = MemoryStorage()
        let gate = Flag(false)
        let scheduler = try PeriodicScheduler(
            storage: storage, schedules: [everyMinute(missedTicks: .catchUpOnce)], leadership: gate, clock: clock, middleware: []
        )
        try await running([scheduler], on: clock) {
            for tick in 1...3 {
                try await clock.advance(to: minute(tick), thenWaitFor: 1)
            }
            try await clock.advance(to: minute(6), thenWaitFor: 1)
            #expect(try await stored(storage).isEmpty)
            gate.set(true)
            try await clock.advance(to: minute(7), thenWaitFor: 1)
        }
        #expect(try await stored(storage).map(\.runAt) == [minute(7)])
    }

    @Test func aRestartDoesNotReplayTicksThatPassedWhileDown() async throws {
        let clock = ManualClock()
        let storage = MemoryStorage()
        let schedules = [try everyMinute(missedTicks: .catchUpOnce)]
        let first = try PeriodicScheduler(storage: storage, schedules: schedules, clock: clock, middleware: [])
        try await running([first], on: clock) {
            try await clock.advance(to: minute(1), thenWaitFor: 1)
        }
        clock.advance(to: minute(4).addingTimeInterval(30))
        let second = try PeriodicScheduler(storage: storage, schedules: schedules, clock: clock, middleware: [])
        try await running([second], on: clock) {
            #expect(try await stored(storage).count == 1)
            try await clock.advance(to: minute(5), thenWaitFor: 1)
        }
        #expect(try await stored(storage).map(\.runAt) == [minute(1), minute(5)])
    }

    @Test func aFailedEnqueueIsRetriedUntilItIsStored() async throws {
        let clock = ManualClock()
        let storage = MemoryStorage()
        let failing = FailingEnqueues(failures: 2)
        let scheduler = try PeriodicScheduler(storage: storage, schedules: [everyMinute()], clock: clock, middleware: [failing])
        try await running([scheduler], on: clock) {
            try await clock.advance(to: minute(1), thenWaitFor: 1)
            #expect(failing.calls.load(ordering: .relaxed) == 1)
            #expect(try await stored(storage).isEmpty)
            try await clock.advance(by: .seconds(1), thenWaitFor: 1)
            #expect(failing.calls.load(ordering: .relaxed) == 2)
            try await clock.advance(by: .seconds(2), thenWaitFor: 1)
            #expect(failing.calls.load(ordering: .relaxed) == 3)
        }
        let jobs = try await stored(storage)
        #expect(jobs.map(\.runAt) == [minute(1)], "the retried tick keeps its time")
    }

    @Test func registeredDefaultsFillWhatTheScheduleLeavesOut() async throws {
        let clock = ManualClock()
        let storage = MemoryStorage()
        let registry = JobRegistry()
        registry.register(Report.self, options: JobOptions(queue: "reports", priority: 5, maxAttempts: 3)) { _, _ in }
        let schedules = [
            try everyMinute("defaults"),
            PeriodicSchedule(
                "own", .cron(try CronExpression("* * * * *")), job: ScheduledJob(Report(scope: "own"), queue: "urgent", priority: 9)),
        ]
        let scheduler = try PeriodicScheduler(storage: storage, schedules: schedules, registry: registry, clock: clock, middleware: [])
        try await running([scheduler], on: clock) {
            try await clock.advance(to: minute(1), thenWaitFor: 1)
        }
        let jobs = try await stored(storage).sorted { $0.queue < $1.queue }
        #expect(jobs.map(\.queue) == ["reports", "urgent"])
        #expect(jobs.map(\.priority) == [5, 9])
        #expect(jobs.map(\.maxAttempts) == [3, 3])
    }

    @Test func upcomingListsTheNextRunsOfEverySchedule() throws {
        let clock = ManualClock()
        let schedules = [
            PeriodicSchedule("tens", .cron(try CronExpression("*/10 * * * *")), job: ScheduledJob(kind: "test.a")),
            PeriodicSchedule("quarters", .every(.seconds(900)), job: ScheduledJob(kind: "test.b")),
        ]
        let scheduler = try PeriodicScheduler(storage: MemoryStorage(), schedules: schedules, clock: clock, middleware: [])
        let runs = scheduler.upcoming(count: 5)
        #expect(runs.map(\.schedule) == ["tens", "quarters", "tens", "quarters", "tens"])
        #expect(runs.map(\.at) == [10, 15, 20, 30, 30].map(minute))
    }

    @Test func refusesSchedulesItCouldNotKeyOrStore() throws {
        let job = ScheduledJob(kind: "test.a")
        let cases: [[PeriodicSchedule]] = [
            [PeriodicSchedule("", .every(.seconds(1)), job: job)],
            [PeriodicSchedule("a", .every(.seconds(1)), job: job), PeriodicSchedule("a", .every(.seconds(2)), job: job)],
            [PeriodicSchedule("a", .every(.zero), job: job)],
            [PeriodicSchedule("a", .every(.seconds(1)), job: ScheduledJob(kind: ""))],
            [PeriodicSchedule("a", .every(.seconds(1)), job: ScheduledJob(kind: "test.a", maxAttempts: 0))],
        ]
        for schedules in cases {
            let error = #expect(throws: SpoolError.self) {
                _ = try PeriodicScheduler(storage: MemoryStorage(), schedules: schedules, middleware: [])
            }
            #expect(error?.code == .invalidArgument)
        }
    }

    @Test func latestTickBeforeADate() throws {
        let timing = PeriodicSchedule.Timing.cron(try CronExpression("0 */6 * * *"))
        #expect(timing.latest(atOrBefore: minute(60 * 13), after: minute(0)) == minute(60 * 12))
        #expect(timing.latest(atOrBefore: minute(60 * 5), after: minute(0)) == nil)
        let interval = PeriodicSchedule.Timing.every(.seconds(60))
        #expect(interval.latest(atOrBefore: minute(7).addingTimeInterval(30), after: minute(0)) == minute(7))
        #expect(interval.next(after: minute(7)) == minute(8))
    }
}

@Suite("Scheduler README")
struct SchedulerReadmeTests {
    @Test func theSchedulesExampleBuildsAScheduler() throws {
        let scheduler = try reportScheduler(storage: MemoryStorage())
        #expect(scheduler.schedules.map(\.name) == ["nightly-report", "standup-digest", "refresh-cache"])
        #expect(scheduler.upcoming(count: 300).contains { $0.schedule == "nightly-report" })
    }

    @Test func theSchedulesPageShowsTheExampleVerbatim() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let text = { (path: String) in try String(contentsOf: folder.appendingPathComponent(path), encoding: .utf8) }
        let marked = try text("ScheduleReadmeExample.swift").components(separatedBy: "// README:begin\n")
        let example = try #require(marked.last?.components(separatedBy: "// README:end").first)
        #expect(
            try text("../../docs/schedules.md").contains("```swift\n" + example + "```"),
            "docs/schedules.md must show ScheduleReadmeExample.swift's code verbatim")
    }
}
