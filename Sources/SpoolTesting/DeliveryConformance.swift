import Foundation
import Spool

/// The hand-over every store that is ``ClaimDelivering`` must show: an enqueue of one due job
/// while a worker of the same process waits in its queue stores it as claimed for that worker
/// when a claim right after the insert would return it, and otherwise stores it as usual; jobs
/// claimed for a waiter always reach it, and a failed enqueue hands over nothing.
///
/// A store may also claim for the waiter in the enqueue's transaction where the job could not
/// go to it directly (SQLite does); the cases accept either, but never a job lost or leased to
/// nobody. Run with a fresh storage per case, as ``StorageConformance``.
package enum DeliveryConformance {
    package static var cases: [ConformanceCase] {
        [
            ConformanceCase(name: "the job is stored running under the waiter's lease and handed over as a claim returns it") {
                try await handOver(try delivering($0))
            },
            ConformanceCase(name: "a paused queue, a queue with limits, an earlier due job, a unique job: no job goes running at insert") {
                try await claimRules(try delivering($0))
            },
            ConformanceCase(name: "a scheduled job takes no waiter, and a failed enqueue hands over nothing") {
                try await nothingHandedOver(try delivering($0))
            },
            ConformanceCase(name: "a worker's wait returns the job an enqueue handed it") {
                try await waitReturnsDelivery(try delivering($0))
            },
        ]
    }

    typealias Store = any ClaimDelivering & JobStorage

    static let t0 = StorageConformance.t0

    static func delivering(_ storage: any JobStorage) throws -> Store {
        guard let store = storage as? Store else { throw failure("\(type(of: storage)) does not hand jobs over") }
        return store
    }

    static func request(_ queue: String = "default", worker: String = "w1") -> ClaimRequest {
        ClaimRequest(demands: [QueueDemand(queue: queue, limit: 5)], worker: worker, lease: .seconds(30))
    }

    static func job(queue: String = "default", runAt: Date = t0, uniqueKey: String? = nil) -> NewJob {
        NewJob(
            queue: queue, kind: "noop", payload: JobPayload(bytes: Array(#"{"n":1}"#.utf8)), priority: 3, maxAttempts: 4, runAt: runAt,
            createdAt: t0, uniqueKey: uniqueKey, timeout: .seconds(9), metadata: ["trace": "abc"])
    }

    static func handOver(_ storage: Store) async throws {
        let waiter = storage.claimWaiters.register(request())
        let job = job()
        try check(try await storage.enqueue([job], whenFull: .fail, now: t0).map(\.state) == [.running], "the result says running")
        let delivered = await storage.claimWaiters.withdraw(waiter)
        guard delivered.count == 1, let claimed = delivered.first else { throw failure("delivered \(delivered.count) jobs, not 1") }
        try check(claimed.id == job.id && claimed.queue == "default" && claimed.kind == "noop", "the delivered job is the job")
        try check(claimed.attempt == 1 && claimed.maxAttempts == 4 && claimed.priority == 3, "attempt, max attempts, priority")
        try check(claimed.payload.text == #"{"n":1}"# && claimed.timeout == .seconds(9), "payload and timeout")
        try check(claimed.metadata == ["trace": "abc"] && claimed.runAt == t0 && claimed.createdAt == t0, "metadata and times")
        guard let record = try await storage.job(job.id) else { throw failure("the job is not stored") }
        try check(record.state == .running && record.attempt == 1 && record.leaseOwner == "w1", "stored running, leased to w1")
        try check(record.leaseExpiresAt == t0.addingTimeInterval(30), "the lease runs from the enqueue")
        try check(try await StorageConformance.claim(storage, 5, worker: "w2").isEmpty, "nothing is left to claim")
        let report = try await storage.finish([JobCompletion(id: job.id, outcome: .succeeded(result: nil), at: t0)], worker: "w1")
        try check(report.lost.isEmpty, "the waiter holds the lease")
        try check(try await storage.job(job.id)?.state == .succeeded, "its outcome is stored")
    }

    /// After an enqueue that must not go running at insert: the waiter got nothing and `id` is
    /// claimable, or it got what a claim takes, `expected` first (running, leased to it).
    static func checkNotDirect(
        _ storage: Store, waiter: UInt64, enqueued id: JobID, expected: JobID, _ what: String
    ) async throws {
        let delivered = await storage.claimWaiters.withdraw(waiter).map(\.id)
        if delivered.isEmpty {
            try check(try await storage.job(id)?.state == .available, "\(what): the job is available")
            return
        }
        try check(delivered.first == expected, "\(what): a claim for the waiter took \(delivered), not \(expected) first")
        for taken in delivered {
            try check(try await storage.job(taken)?.leaseOwner == "w1", "\(what): \(taken) is leased to the waiter")
        }
    }

    static func claimRules(_ storage: Store) async throws {
        try await storage.setPaused(true, queue: "paused")
        try await storage.setLimits(QueueLimits(maxRunning: 5), queue: "capped")
        for queue in ["paused", "capped", "unique"] {
            let waiter = storage.claimWaiters.register(request(queue))
            let job = job(queue: queue, uniqueKey: queue == "unique" ? "k" : nil)
            let state = try await storage.enqueue([job], whenFull: .fail, now: t0).first?.state
            try check(state == .available, "\(queue): the result says available, not \(String(describing: state))")
            if queue == "paused" {
                try check(await storage.claimWaiters.withdraw(waiter).isEmpty, "paused: nothing handed over")
            } else {
                try await checkNotDirect(storage, waiter: waiter, enqueued: job.id, expected: job.id, queue)
            }
        }
        let earlier = job(queue: "busy", runAt: t0.addingTimeInterval(-1))
        _ = try await storage.enqueue([earlier], whenFull: .fail, now: t0)
        let waiter = storage.claimWaiters.register(request("busy"))
        let later = job(queue: "busy")
        try check(try await storage.enqueue([later], whenFull: .fail, now: t0).first?.state == .available, "busy: available")
        try await checkNotDirect(storage, waiter: waiter, enqueued: later.id, expected: earlier.id, "busy")
    }

    static func nothingHandedOver(_ storage: Store) async throws {
        let waiter = storage.claimWaiters.register(request())
        let scheduled = try await storage.enqueue([job(runAt: t0.addingTimeInterval(60))], whenFull: .fail, now: t0)
        try check(scheduled.first?.state == .scheduled, "a job for later is scheduled")
        try check(storage.claimWaiters.waitingCount == 1, "a scheduled job takes no waiter")
        let existing = try await storage.enqueue([job(queue: "other")], whenFull: .fail, now: t0)[0].id
        var copy = job()
        copy.id = existing
        do {
            _ = try await storage.enqueue([copy], whenFull: .fail, now: t0)
            throw failure("an enqueue of an existing id succeeded")
        } catch let error as SpoolError {
            try check(error.code == .invalidArgument, "an existing id is invalidArgument, not \(error.code)")
        }
        try check(await storage.claimWaiters.withdraw(waiter).isEmpty, "the failed enqueue handed nothing over")
        try check(try await storage.job(existing)?.queue == "other", "the existing job is unchanged")
        try check(try await storage.stats().count(.running) == 0, "nothing is running")
    }

    static func waitReturnsDelivery(_ storage: Store) async throws {
        let clock = ManualClock(start: t0)
        let waiting = Task { await storage.waitForWork(claiming: request(), deadline: t0.addingTimeInterval(3600), clock: clock) }
        while storage.claimWaiters.waitingCount == 0 { await Task.yield() }
        let job = job()
        _ = try await storage.enqueue([job], whenFull: .fail, now: t0)
        try check(await waiting.value.map(\.id) == [job.id], "the wait returned the job")
    }

    static func failure(_ message: String, file: String = #fileID, line: Int = #line) -> ConformanceFailure {
        ConformanceFailure(message: message, file: file, line: line)
    }
}
