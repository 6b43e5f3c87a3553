import Foundation
import Spool
import Testing

/// The input rules every entry applies, and the saturating arithmetic on user and stored values
/// that must never trap.
@Suite("Input rules and saturating arithmetic")
struct JobInputTests {
    @Test("names: NFC, 1 to 255 code points, no control characters; errors name the field")
    func names() throws {
        #expect(try JobInput.name("cafe\u{301}", field: "queue") == "caf\u{E9}")
        #expect(Array(try JobInput.name("cafe\u{301}", field: "queue").utf8) == Array("caf\u{E9}".utf8))
        #expect(try JobInput.name(String(repeating: "é", count: 255), field: "queue").unicodeScalars.count == 255)
        for (name, reason) in [
            ("", "empty"), ("a\u{0}b", "control"), ("tab\t", "control"), ("del\u{7F}", "control"), ("c1\u{9F}", "control"),
            (String(repeating: "x", count: 256), "at most 255"),
        ] {
            let error = #expect(throws: SpoolError.self) { try JobInput.name(name, field: "jobs[2].queue") }
            #expect(
                error?.code == .invalidArgument && error?.message.contains("jobs[2].queue") == true
                    && error?.message.contains(reason) == true,
                "\(String(describing: error))")
        }
        #expect(JobInput.isValidName("mail") && !JobInput.isValidName("cafe\u{301}"))
    }

    @Test("run-at times: 1970 to 9999, finite")
    func runAt() throws {
        _ = try JobInput.runAt(JobInput.earliestRunAt, field: "run_at")
        _ = try JobInput.runAt(JobInput.latestRunAt, field: "run_at")
        for seconds in [-1, 253_402_300_800, .infinity, -.infinity, .nan] as [Double] {
            #expect(throws: SpoolError.self) { try JobInput.runAt(Date(timeIntervalSince1970: seconds), field: "run_at") }
        }
    }

    @Test("Int64(saturating:), Duration(saturatingSeconds:), Duration.milliseconds and Date.adding never trap")
    func saturation() {
        #expect(Int64(saturating: 1e300) == .max && Int64(saturating: -1e300) == .min && Int64(saturating: .nan) == 0)
        #expect(Int64(saturating: 9_223_372_036_854_775_807.0) == .max && Int64(saturating: 12.9) == 12)
        #expect(Duration(saturatingSeconds: .infinity) == .nanoseconds(Int64.max) && Duration(saturatingSeconds: .nan) == .zero)
        #expect(Duration.seconds(Int64.max).milliseconds == .max && Duration.seconds(Int64.min).milliseconds == .min)
        #expect(Duration.milliseconds(1_500).milliseconds == 1_500)
        let now = Date(timeIntervalSince1970: 1_893_456_000)
        #expect(now.adding(.seconds(Int64.max)) == JobInput.latestRunAt)
        #expect(now.adding(.seconds(Int64.min)) == JobInput.earliestRunAt)
        #expect(now.adding(.seconds(60)) == now.addingTimeInterval(60))
        // A date already past the end is not moved back by a positive duration.
        #expect(Date.distantPast.adding(.seconds(-1)) == Date.distantPast)
    }

    @Test("retry backoff saturates for huge factors and attempts")
    func backoff() {
        let strategy = RetryStrategy.exponential(base: .seconds(Int64.max), factor: 1e300, maximum: .seconds(Int64.max), jitter: 1)
        for attempt in [1, 2, 1_000, Int.max] {
            let delay = strategy.delay(afterAttempt: attempt, random: 0.999)
            #expect(delay.map { $0 >= .zero } == true, "\(attempt): \(String(describing: delay))")
        }
    }

    @Test("limits read back from a store are clamped; allowances of corrupt counts stay in range")
    func storedLimits() {
        let limits = QueueLimits.stored(maxRunning: .min, rateCount: .max, period: .microseconds(Int64.min))
        #expect(limits.maxRunning == 1 && limits.rate?.count == QueueLimits.maximum && limits.rate?.period == .milliseconds(1))
        #expect(QueueLimits.stored(maxRunning: nil, rateCount: 5, period: nil).isNone)
        let rate = QueueLimits(maxRunning: 3, rate: .init(count: 10, period: .seconds(60)))
        let now = Date(timeIntervalSince1970: 1_893_456_000)
        let corrupt = QueueAllowance(limits: rate, running: .min, startsInWindow: [(now, .max), (now, .max), (now, -5)])
        #expect(corrupt.jobs == 0)
        let negative = QueueAllowance(limits: rate, running: -2, startsInWindow: [(now, -5)])
        #expect(negative.jobs == 3, "a negative running count counts as none: \(negative.jobs)")
    }

    @Test("a batch that holds a job of another batch is refused, naming the job, and nothing is stored")
    func batchOfAnotherBatchsJob() async throws {
        let storage = MemoryStorage()
        let now = Date()
        var stray = NewJob(queue: "default", kind: "k", payload: JobPayload(bytes: []), runAt: now, createdAt: now)
        stray.batch = BatchID()
        let batch = NewBatch(
            jobs: [NewJob(queue: "default", kind: "k", payload: JobPayload(bytes: []), runAt: now, createdAt: now), stray], createdAt: now)
        let error = await #expect(throws: SpoolError.self) { _ = try await storage.enqueueBatch(batch, whenFull: .fail, now: now) }
        #expect(error?.code == .unprocessable && error?.job == stray.id, "\(String(describing: error))")
        #expect(error?.message == "batch: job \(stray.id) belongs to another batch")
        let stats = try await storage.stats()
        let stored = try await storage.batch(batch.id)
        #expect(stats.count(.available) == 0 && stored == nil)
    }
}
