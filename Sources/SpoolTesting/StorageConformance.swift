import Foundation
import Spool

/// Makes a fresh, empty storage for one conformance case.
public typealias StorageFactory = @Sendable () async throws -> any JobStorage

/// One behaviour every driver must show.
public struct ConformanceCase: Sendable, CustomStringConvertible {
    public let name: String
    let body: @Sendable (any JobStorage) async throws -> Void

    public var description: String { name }

    /// Runs the case against a fresh storage from `factory`.
    public func run(_ factory: StorageFactory) async throws {
        try await body(try await factory())
    }
}

/// The driver conformance suite: the behaviours of ``JobStorage`` that every driver must show,
/// run against a real storage (and, for the worker cases, a real ``Worker``).
///
/// A driver's test target runs every case, for example with swift-testing:
/// ```swift
/// @Test(arguments: StorageConformance.cases)
/// func conformance(_ test: ConformanceCase) async throws {
///     try await test.run { MyStorage(...) }
/// }
/// ```
/// Cases use a ``ManualClock`` for every time they pass, so none sleeps.
public enum StorageConformance {
    public static var cases: [ConformanceCase] {
        storageCases + workerCases + flowCases + edgeCases + workflowCases + workflowWorkerCases
    }

    static let t0 = Date(timeIntervalSince1970: 1_893_456_000)

    static func job(
        _ kind: String = "noop", queue: String = "default", priority: Int = 0, runAt: Date = t0,
        uniqueKey: String? = nil, maxAttempts: Int = 5, payload: String = "{}"
    ) -> NewJob {
        NewJob(
            id: JobID(date: t0), queue: queue, kind: kind, payload: JobPayload(bytes: Array(payload.utf8)),
            priority: priority, maxAttempts: maxAttempts, runAt: runAt, createdAt: t0, uniqueKey: uniqueKey
        )
    }

    static func claim(
        _ storage: any JobStorage, _ limit: Int, queue: String = "default", worker: String = "w1",
        lease: Duration = .seconds(30), at now: Date = t0
    ) async throws -> [ClaimedJob] {
        try await storage.claim(
            ClaimRequest(demands: [QueueDemand(queue: queue, limit: limit)], worker: worker, lease: lease), now: now
        )
    }

    static func state(_ storage: any JobStorage, _ id: JobID) async throws -> JobState? {
        try await storage.job(id)?.state
    }

    /// Calls `waitForWork` on "default" (far deadline, on `clock`) over and over, checks that it
    /// parks on the clock (after at most a few spurious returns, which the protocol allows: a
    /// wake-up sent before the wait began may end it), then runs `wake` and expects it to return.
    static func expectWaitUntil(
        _ storage: any JobStorage, _ clock: ManualClock, _ parked: String, wake: @Sendable () async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            let returns = EventRecorder<Bool>()
            group.addTask {
                while !Task.isCancelled {
                    await storage.waitForWork(queues: ["default"], deadline: t0.addingTimeInterval(3600), clock: clock)
                    returns.record(true)
                }
            }
            try await clock.waitForSleepers(atLeast: 1, timeout: .seconds(20))
            let before = returns.count
            try check(before <= 3, "\(parked): the wait returned \(before) times before it parked")
            try await wake()
            _ = try await returns.waitForCount(before + 1, timeout: .seconds(20))
            group.cancelAll()
        }
    }

    static func error(_ attempt: Int, _ message: String = "boom") -> JobAttemptError {
        JobAttemptError(attempt: attempt, at: t0, message: message)
    }

    // MARK: Storage cases

    static let storageCases: [ConformanceCase] = [
        ConformanceCase(name: "enqueue, claim and finish") { storage in
            let results = try await storage.enqueue([job(), job(), job()], whenFull: .wait, now: t0)
            try check(results.count == 3 && results.allSatisfy { !$0.existing && $0.state == .available }, "three new available jobs")
            let first = try await claim(storage, 2)
            try check(first.count == 2, "claim of 2 returns 2 jobs, got \(first.count)")
            try check(first.map(\.id) == Array(results.map(\.id).prefix(2)), "claims in id order")
            try check(first.allSatisfy { $0.attempt == 1 }, "first claim is attempt 1")
            let running = try await storage.job(first[0].id)
            try check(running?.state == .running && running?.leaseOwner == "w1", "claimed job is running with its lease owner")
            try check(running?.attemptedAt != nil, "claim records the attempt time")
            let lost = try await storage.finish(
                first.map { JobCompletion(id: $0.id, outcome: .succeeded(result: Array("42".utf8)), at: t0) }, worker: "w1"
            ).lost
            try check(lost.isEmpty, "finish with the lease held writes everything")
            let done = try await storage.job(first[0].id)
            try check(done?.state == .succeeded, "finished job is succeeded")
            try check(done?.result == Array("42".utf8), "the result is stored")
            try check(done?.finishedAt != nil, "finish time is stored")
            let second = try await claim(storage, 10)
            try check(second.map(\.id) == [results[2].id], "the third job is left, got \(second.map(\.id))")
            try check(try await claim(storage, 10).isEmpty, "nothing left to claim")
            let stats = try await storage.stats()
            try check(stats.count(.succeeded) == 2 && stats.count(.running) == 1, "stats: 2 succeeded, 1 running; got \(stats)")
        },
        ConformanceCase(name: "retry waits out its backoff") { storage in
            let id = try await storage.enqueue([job()], whenFull: .wait, now: t0)[0].id
            _ = try await claim(storage, 1)
            let retryAt = t0.addingTimeInterval(10)
            _ = try await storage.finish([JobCompletion(id: id, outcome: .retry(at: retryAt, error: error(1)), at: t0)], worker: "w1")
            let record = try await storage.job(id)
            try check(record?.state == .scheduled, "a retried job is scheduled")
            try check(record?.errors.map(\.message) == ["boom"], "the error is in the history")
            try check(try await claim(storage, 1, at: t0.addingTimeInterval(9)).isEmpty, "not claimable before its retry time")
            let again = try await claim(storage, 1, at: retryAt)
            try check(again.map(\.id) == [id] && again[0].attempt == 2, "claimable at its retry time, attempt 2")
        },
        ConformanceCase(name: "dead after a final failure") { storage in
            let id = try await storage.enqueue([job(maxAttempts: 1)], whenFull: .wait, now: t0)[0].id
            _ = try await claim(storage, 1)
            _ = try await storage.finish([JobCompletion(id: id, outcome: .dead(error: error(1, "fatal")), at: t0)], worker: "w1")
            let record = try await storage.job(id)
            try check(record?.state == .dead && record?.lastError?.message == "fatal", "dead with its error")
            try check(try await storage.stats().count(.dead) == 1, "stats count the dead job")
            try check(try await claim(storage, 1, at: t0.addingTimeInterval(3600)).isEmpty, "a dead job is never claimed")
        },
        ConformanceCase(name: "snooze spends no attempt") { storage in
            let id = try await storage.enqueue([job()], whenFull: .wait, now: t0)[0].id
            _ = try await claim(storage, 1)
            _ = try await storage.finish([JobCompletion(id: id, outcome: .snooze(until: t0.addingTimeInterval(5)), at: t0)], worker: "w1")
            let record = try await storage.job(id)
            try check(record?.state == .scheduled && record?.attempt == 0, "snoozed: scheduled, attempt back to 0")
            let again = try await claim(storage, 1, at: t0.addingTimeInterval(5))
            try check(again.first?.attempt == 1, "the next run is attempt 1 again")
        },
        ConformanceCase(name: "unique keys name the live job") { storage in
            let first = try await storage.enqueue([job(uniqueKey: "k"), job(uniqueKey: "k")], whenFull: .wait, now: t0)
            try check(!first[0].existing && first[1].existing && first[1].id == first[0].id, "a duplicate in one batch names the first")
            let again = try await storage.enqueue([job(uniqueKey: "k")], whenFull: .wait, now: t0)[0]
            try check(again.existing && again.id == first[0].id, "a later duplicate names the live job")
            try check(try await storage.stats().count(.available) == 1, "only one job stored")
            _ = try await claim(storage, 1)
            _ = try await storage.finish([JobCompletion(id: first[0].id, outcome: .succeeded(result: nil), at: t0)], worker: "w1")
            let fresh = try await storage.enqueue([job(uniqueKey: "k")], whenFull: .wait, now: t0)[0]
            try check(!fresh.existing && fresh.id != first[0].id, "once finished, the key is free again")
        },
        ConformanceCase(name: "delayed jobs wait for their time") { storage in
            let later = t0.addingTimeInterval(60)
            let result = try await storage.enqueue([job(runAt: later)], whenFull: .wait, now: t0)[0]
            try check(result.state == .scheduled, "a job with a future run-at is scheduled")
            try check(try await storage.stats().count(.scheduled) == 1, "stats count it as scheduled")
            try check(try await claim(storage, 1, at: t0.addingTimeInterval(59)).isEmpty, "not claimable early")
            try check(try await claim(storage, 1, at: later).map(\.id) == [result.id], "claimable when due")
        },
        ConformanceCase(name: "priority order, then id order") { storage in
            let ids = try await storage.enqueue(
                [job(priority: 0), job(priority: 10), job(priority: 5), job(priority: 10)], whenFull: .wait, now: t0
            ).map(\.id)
            let claimed = try await claim(storage, 4).map(\.id)
            try check(claimed == [ids[1], ids[3], ids[2], ids[0]], "highest priority first, FIFO within a priority")
        },
        ConformanceCase(name: "expired leases are rescued") { storage in
            let id = try await storage.enqueue([job()], whenFull: .wait, now: t0)[0].id
            _ = try await claim(storage, 1, lease: .seconds(10))
            let early = try await storage.rescueExpired(now: t0.addingTimeInterval(5), poisonAfter: 3)
            try check(early.rescued.isEmpty, "a live lease is not rescued")
            let report = try await storage.rescueExpired(now: t0.addingTimeInterval(11), poisonAfter: 3)
            try check(report.rescued == [id], "the expired lease is rescued")
            let record = try await storage.job(id)
            try check(record?.state == .available && record?.attempt == 1, "rescued: available, the crashed attempt counted")
            try check(record?.lastError?.reason == "lease_expired", "the expiry is in the history")
            let lost = try await storage.finish([JobCompletion(id: id, outcome: .succeeded(result: nil), at: t0)], worker: "w1").lost
            try check(lost == [id], "the old worker's outcome is refused")
            let again = try await claim(storage, 1, worker: "w2", at: t0.addingTimeInterval(12))
            try check(again.first?.attempt == 2, "the next claim is attempt 2")
        },
        ConformanceCase(name: "a poison job goes to dead") { storage in
            let id = try await storage.enqueue([job(maxAttempts: 100)], whenFull: .wait, now: t0)[0].id
            var now = t0
            for round in 1...3 {
                _ = try await claim(storage, 1, lease: .seconds(1), at: now)
                now = now.addingTimeInterval(2)
                let report = try await storage.rescueExpired(now: now, poisonAfter: 2)
                if round < 3 {
                    try check(report.rescued == [id], "round \(round): rescued")
                } else {
                    try check(report.poisoned == [id], "round 3: poisoned")
                }
            }
            let record = try await storage.job(id)
            try check(record?.state == .dead && record?.lastError?.reason == "poison", "a poison job is dead with the reason")
        },
        ConformanceCase(name: "heartbeats extend leases and carry progress") { storage in
            let id = try await storage.enqueue([job()], whenFull: .wait, now: t0)[0].id
            _ = try await claim(storage, 1, lease: .seconds(10))
            let lost = try await storage.heartbeat(
                [JobHeartbeat(id: id, progress: JobProgress(fraction: 0.5, message: "half"))], worker: "w1",
                lease: .seconds(10), now: t0.addingTimeInterval(8)
            ).lost
            try check(lost.isEmpty, "the lease holder's heartbeat is accepted")
            let report = try await storage.rescueExpired(now: t0.addingTimeInterval(12), poisonAfter: 3)
            try check(report.rescued.isEmpty, "an extended lease is not rescued")
            let record = try await storage.job(id)
            try check(record?.progress == JobProgress(fraction: 0.5, message: "half"), "progress is stored")
            let stranger = try await storage.heartbeat([JobHeartbeat(id: id)], worker: "w2", lease: .seconds(10), now: t0).lost
            try check(stranger == [id], "another worker's heartbeat is refused")
        },
        ConformanceCase(name: "hand-back returns the job without spending an attempt") { storage in
            let id = try await storage.enqueue([job()], whenFull: .wait, now: t0)[0].id
            _ = try await claim(storage, 1)
            _ = try await storage.finish([JobCompletion(id: id, outcome: .handBack, at: t0)], worker: "w1")
            let record = try await storage.job(id)
            try check(record?.state == .available && record?.attempt == 0, "handed back: available, attempt 0")
            try check(try await claim(storage, 1, worker: "w2").first?.attempt == 1, "another worker gets it at once")
        },
        ConformanceCase(name: "outcomes need the lease") { storage in
            let id = try await storage.enqueue([job()], whenFull: .wait, now: t0)[0].id
            _ = try await claim(storage, 1)
            let lost = try await storage.finish([JobCompletion(id: id, outcome: .succeeded(result: nil), at: t0)], worker: "intruder").lost
            try check(lost == [id], "a non-holder's outcome is refused")
            try check(try await state(storage, id) == .running, "the job is still running")
        },
        // Drivers may store a batch of successes another way than a mixed one: both must hold.
        ConformanceCase(name: "one finish stores mixed outcomes, each by its own rule, and successes with and without results") { storage in
            let ids = try await storage.enqueue((0..<6).map { _ in job() }, whenFull: .wait, now: t0).map(\.id)
            try check(try await claim(storage, 6).count == 6, "all six claimed")
            let retryAt = t0.addingTimeInterval(10)
            let mixed = try await storage.finish(
                [
                    JobCompletion(id: ids[0], outcome: .succeeded(result: Array("1".utf8)), at: t0),
                    JobCompletion(id: ids[1], outcome: .retry(at: retryAt, error: error(1)), at: t0),
                    JobCompletion(id: ids[2], outcome: .succeeded(result: nil), at: t0),
                    JobCompletion(id: ids[3], outcome: .dead(error: error(1, "fatal")), at: t0),
                ], worker: "w1"
            ).lost
            try check(mixed.isEmpty, "a mixed finish with the lease held writes everything")
            let finishedLater = t0.addingTimeInterval(1)
            let successes = try await storage.finish(
                [
                    JobCompletion(id: ids[4], outcome: .succeeded(result: Array("[5]".utf8)), at: finishedLater),
                    JobCompletion(id: ids[5], outcome: .succeeded(result: nil), at: finishedLater),
                    JobCompletion(id: ids[0], outcome: .succeeded(result: nil), at: finishedLater),
                ], worker: "w1"
            ).lost
            try check(successes == [ids[0]], "a job already finished is not finished again, got \(successes)")
            var records: [JobRecord] = []
            for id in ids {
                guard let record = try await storage.job(id) else {
                    throw ConformanceFailure(message: "job \(id) is gone", file: #fileID, line: #line)
                }
                records.append(record)
            }
            try check(records[0].state == .succeeded && records[0].result == Array("1".utf8), "success with a result (mixed)")
            try check(
                records[1].state == .scheduled && records[1].runAt == retryAt && records[1].errors.map(\.message) == ["boom"],
                "retry (mixed)")
            try check(
                records[2].state == .succeeded && records[2].result == nil && records[2].errors.isEmpty, "success without a result (mixed)")
            try check(records[3].state == .dead && records[3].lastError?.message == "fatal", "dead (mixed)")
            try check(records[4].state == .succeeded && records[4].result == Array("[5]".utf8), "success with a result (successes only)")
            try check(records[5].state == .succeeded && records[5].result == nil, "success without a result (successes only)")
            // To 10 ms: the memory driver keeps times as hundredths of a second after creation.
            func near(_ date: Date?, _ expected: Date) -> Bool { date.map { abs($0.timeIntervalSince(expected)) <= 0.011 } ?? false }
            try check(near(records[4].finishedAt, finishedLater) && near(records[2].finishedAt, t0), "each finish time is the outcome's")
            try check(records.allSatisfy { $0.leaseOwner == nil && $0.attempt == 1 }, "no lease left, one attempt each")
        },
        ConformanceCase(name: "listing pages newest first with filters") { storage in
            var jobs: [NewJob] = []
            for index in 0..<25 {
                jobs.append(job(index % 2 == 0 ? "even" : "odd", queue: index < 20 ? "a" : "b"))
            }
            let ids = try await storage.enqueue(jobs, whenFull: .wait, now: t0).map(\.id)
            var seen: [JobID] = []
            var cursor: JobID?
            var pages = 0
            repeat {
                let page = try await storage.jobs(JobFilter(queue: "a"), after: cursor, limit: 7)
                seen += page.jobs.map(\.id)
                cursor = page.nextCursor
                pages += 1
            } while cursor != nil && pages < 10
            try check(seen == Array(ids.prefix(20).reversed()), "queue a's 20 jobs, newest first, each once")
            try check(pages == 3, "20 jobs in pages of 7 take 3 pages, took \(pages)")
            let odd = try await storage.jobs(JobFilter(kind: "odd"), after: nil, limit: 100)
            try check(odd.jobs.count == 12 && odd.nextCursor == nil, "12 odd jobs on one page")
            _ = try await claim(storage, 3, queue: "b")
            let running = try await storage.jobs(JobFilter(states: [.running]), after: nil, limit: 100)
            try check(running.jobs.count == 3, "3 running jobs listed by state")
        },
        ConformanceCase(name: "cancel, retry, delete and prune") { storage in
            let ids = try await storage.enqueue([job(), job(), job()], whenFull: .wait, now: t0).map(\.id)
            try check(try await storage.cancel([ids[0]], now: t0) == [ids[0]], "an available job can be cancelled")
            try check(try await state(storage, ids[0]) == .cancelled, "it is cancelled")
            let claimed = try await claim(storage, 3).map(\.id)
            try check(claimed == [ids[1], ids[2]], "a cancelled job is not claimed")
            try check(try await storage.cancel([ids[1]], now: t0) == [ids[1]], "a running job can be cancelled")
            let lost = try await storage.finish([JobCompletion(id: ids[1], outcome: .succeeded(result: nil), at: t0)], worker: "w1").lost
            let stillCancelled = try await state(storage, ids[1]) == .cancelled
            try check(lost == [ids[1]] && stillCancelled, "its worker's outcome is refused")
            try check(try await storage.retry([ids[0], ids[2]], now: t0) == [ids[0]], "only cancelled/dead jobs can be retried")
            let retried = try await storage.job(ids[0])
            try check(retried?.state == .available && retried?.attempt == 0, "retried: available with a fresh budget")
            try check(try await storage.delete([ids[0]]) == [ids[0]], "delete reports the deleted id")
            try check(try await storage.job(ids[0]) == nil, "a deleted job is gone")
            try check(try await claim(storage, 3).isEmpty, "a deleted job is not claimed")
            try check(try await storage.prune(finishedBefore: t0.addingTimeInterval(-1), limit: 100) == 0, "nothing finished before t0 - 1")
            try check(try await storage.prune(finishedBefore: t0.addingTimeInterval(1), limit: 100) == 1, "the cancelled job is pruned")
            try check(try await storage.job(ids[1]) == nil, "the pruned job is gone")
            try check(try await state(storage, ids[2]) == .running, "a running job is never pruned")
        },
        ConformanceCase(name: "paused queues hand out nothing") { storage in
            _ = try await storage.enqueue([job()], whenFull: .wait, now: t0)
            try await storage.setPaused(true, queue: "default")
            try check(try await storage.pausedQueues() == ["default"], "the pause is recorded")
            try check(try await claim(storage, 1).isEmpty, "a paused queue hands out nothing")
            try await storage.setPaused(false, queue: "default")
            try check(try await claim(storage, 1).count == 1, "a resumed queue hands out again")
        },
        ConformanceCase(name: "a max-running limit holds across workers") { storage in
            let ids = try await storage.enqueue((0..<5).map { _ in job() }, whenFull: .wait, now: t0).map(\.id)
            try await storage.setLimits(QueueLimits(maxRunning: 2), queue: "default")
            try check(try await storage.queueLimits() == ["default": QueueLimits(maxRunning: 2)], "the limit is recorded")
            let first = try await claim(storage, 5, worker: "w1")
            try check(first.map(\.id) == Array(ids[0..<2]), "the first worker gets 2 of 5: \(first.count)")
            try check(try await claim(storage, 5, worker: "w2").isEmpty, "a second worker gets none while 2 run")
            _ = try await storage.finish([JobCompletion(id: first[0].id, outcome: .succeeded(result: nil), at: t0)], worker: "w1")
            try check(try await claim(storage, 5, worker: "w2").map(\.id) == [ids[2]], "a finish frees one slot")
            try check(try await storage.cancel([first[1].id], now: t0) == [first[1].id], "cancel a running job")
            try check(try await claim(storage, 5, worker: "w2").map(\.id) == [ids[3]], "a cancel frees one slot")
            try await storage.setLimits(.none, queue: "default")
            try check(try await storage.queueLimits().isEmpty, "limits removed")
            try check(try await claim(storage, 5, worker: "w3").map(\.id) == [ids[4]], "without limits the rest is claimed")
            do {
                try await storage.setLimits(QueueLimits(maxRunning: 0), queue: "default")
                try check(false, "a max-running limit of 0 is refused")
            } catch let error as SpoolError {
                try check(error.code == .invalidArgument, "refused as an invalid argument: \(error)")
            }
        },
        ConformanceCase(name: "a rate limit counts starts in a sliding window") { storage in
            let ids = try await storage.enqueue((0..<7).map { _ in job() }, whenFull: .wait, now: t0).map(\.id)
            let limits = QueueLimits(rate: QueueLimits.Rate(count: 3, period: .seconds(10)))
            try await storage.setLimits(limits, queue: "default")
            try check(try await storage.queueLimits() == ["default": limits], "the limit is recorded")
            let first = try await claim(storage, 2, worker: "w1", at: t0)
            try check(first.count == 2, "2 of 3 starts at t0")
            let second = try await claim(storage, 5, worker: "w2", at: t0.addingTimeInterval(4))
            try check(second.map(\.id) == [ids[2]], "1 more at t0+4s: \(second.count)")
            let done = (first + second).map { JobCompletion(id: $0.id, outcome: .succeeded(result: nil), at: t0) }
            _ = try await storage.finish(done, worker: "w1")
            _ = try await storage.finish(done, worker: "w2")
            try check(try await claim(storage, 5, at: t0.addingTimeInterval(9.9)).isEmpty, "finishing does not give starts back")
            let third = try await claim(storage, 5, at: t0.addingTimeInterval(10.5))
            try check(third.map(\.id) == Array(ids[3..<5]), "t0's 2 starts left the window at t0+10s: \(third.count)")
            try check(try await claim(storage, 5, at: t0.addingTimeInterval(13.9)).isEmpty, "t0+4s's start is still in the window")
            try check(try await claim(storage, 5, at: t0.addingTimeInterval(14.5)).count == 1, "and leaves it at t0+14s")
            try await storage.setLimits(.none, queue: "default")
            try check(try await claim(storage, 5, at: t0.addingTimeInterval(14.5)).count == 1, "without limits the rest is claimed")
        },
        ConformanceCase(name: "a queue at its limit waits without spinning, and wakes when it reopens") { storage in
            let clock = ManualClock(start: t0)
            _ = try await storage.enqueue((0..<3).map { _ in job() }, whenFull: .wait, now: t0)
            try await storage.setLimits(QueueLimits(maxRunning: 1), queue: "default")
            let running = try await claim(storage, 5, at: t0)
            try check(running.count == 1, "1 running: the queue is at its limit")
            try await expectWaitUntil(storage, clock, "available jobs of a full queue are not work") {
                _ = try await storage.finish([JobCompletion(id: running[0].id, outcome: .succeeded(result: nil), at: t0)], worker: "w1")
            }
            try await storage.setLimits(QueueLimits(rate: QueueLimits.Rate(count: 1, period: .seconds(60))), queue: "default")
            try check(try await claim(storage, 5, at: t0).count == 1, "one start under a rate of 1/1m")
            try await expectWaitUntil(storage, clock, "available jobs of a queue at its rate are not work") {
                clock.advance(to: t0.addingTimeInterval(61))
            }
            try check(try await claim(storage, 5, at: t0.addingTimeInterval(61)).count == 1, "the window reopened")
        },
        ConformanceCase(name: "an enqueue wakes a waiting worker") { storage in
            let clock = ManualClock(start: t0)
            try await withThrowingTaskGroup(of: Void.self) { group in
                let woke = EventRecorder<Bool>()
                group.addTask {
                    // A far deadline on a clock nobody advances: only the enqueue can end the wait.
                    await storage.waitForWork(queues: ["default"], deadline: t0.addingTimeInterval(3600), clock: clock)
                    woke.record(true)
                }
                // Drivers that sleep on the injected clock show the waiter parked; others (a
                // LISTEN connection, a real-time poll) may not, so this wait is best-effort.
                try? await clock.waitForSleepers(atLeast: 1, timeout: .milliseconds(500))
                _ = try await storage.enqueue([job()], whenFull: .wait, now: t0)
                try await woke.waitForCount(1, timeout: .seconds(5))
                group.cancelAll()
            }
        },
        ConformanceCase(name: "concurrent claimers never share a job") { storage in
            let total = 2000
            var jobs: [NewJob] = []
            for _ in 0..<total { jobs.append(job()) }
            _ = try await storage.enqueue(jobs, whenFull: .wait, now: t0)
            let claimed = try await withThrowingTaskGroup(of: [JobID].self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var mine: [JobID] = []
                        while true {
                            let batch = try await claim(storage, 10, worker: "w\(worker)")
                            if batch.isEmpty { return mine }
                            mine += batch.map(\.id)
                        }
                    }
                }
                var all: [JobID] = []
                for try await ids in group { all += ids }
                return all
            }
            try check(claimed.count == total, "every job claimed once in all: \(claimed.count) of \(total)")
            try check(Set(claimed).count == total, "no job claimed twice")
        },
    ]
}
