import Foundation
import Logging
import MetricsTestKit
import Spool

/// Conformance cases for the edges of ``JobInput``: values out of range are refused at enqueue
/// with an error naming the field and nothing stored; values at the ends of the ranges are
/// stored and run to a final state without trapping, metrics and logging included.
extension StorageConformance {
    /// One refusal: a job made bad in one way, and the field the error must name.
    struct Refusal: Sendable {
        let what: String
        let field: String
        let make: @Sendable (Date) -> NewJob
    }

    static let refusals: [Refusal] = [
        Refusal(what: "a run-at time in 1700", field: "run_at") { now in
            probe(now, runAt: Date(timeIntervalSince1970: -8_520_336_000))
        },
        Refusal(what: "a run-at time in year 10000", field: "run_at") { now in
            probe(now, runAt: Date(timeIntervalSince1970: 253_402_300_800))
        },
        Refusal(what: "an infinite run-at time", field: "run_at") { now in probe(now, runAt: Date(timeIntervalSince1970: .infinity)) },
        Refusal(what: "a run-at time that is not a number", field: "run_at") { now in probe(now, runAt: Date(timeIntervalSince1970: .nan))
        },
        Refusal(what: "priority Int.max", field: "priority") { now in probe(now, priority: .max) },
        Refusal(what: "priority 32,768", field: "priority") { now in probe(now, priority: 32_768) },
        Refusal(what: "priority Int.min", field: "priority") { now in probe(now, priority: .min) },
        Refusal(what: "max attempts 0", field: "max_attempts") { now in probe(now, maxAttempts: 0) },
        Refusal(what: "max attempts Int.max", field: "max_attempts") { now in probe(now, maxAttempts: .max) },
        Refusal(what: "a timeout of Int64.max seconds", field: "timeout") { now in probe(now, timeout: .seconds(Int64.max)) },
        Refusal(what: "a negative timeout", field: "timeout") { now in probe(now, timeout: .seconds(-1)) },
        Refusal(what: "a NUL in the queue name", field: "queue") { now in probe(now, queue: "mail\u{0}x") },
        Refusal(what: "a newline in the kind", field: "kind") { now in probe(now, kind: "spool.probe\n") },
        Refusal(what: "a NUL in the unique key", field: "unique_key") { now in probe(now, uniqueKey: "key\u{0}") },
        Refusal(what: "a C1 control in the queue name", field: "queue") { now in probe(now, queue: "q\u{85}") },
        Refusal(what: "a queue name of 256 characters", field: "queue") { now in
            probe(now, queue: String(repeating: "é", count: 256))
        },
        Refusal(what: "an empty kind", field: "kind") { now in probe(now, kind: "") },
    ]

    static func probe(
        _ now: Date, queue: String = "default", kind: String = ProbeJob.kind, priority: Int = 0, maxAttempts: Int = 5,
        runAt: Date? = nil, uniqueKey: String? = nil, timeout: Duration? = nil
    ) -> NewJob {
        NewJob(
            id: JobID(date: now), queue: queue, kind: kind, payload: JobPayload(bytes: Array(#"{"value": 1}"#.utf8)),
            priority: priority, maxAttempts: maxAttempts, runAt: runAt ?? now, createdAt: now, uniqueKey: uniqueKey,
            timeout: timeout
        )
    }

    /// The total of every count of every queue.
    static func storedJobs(_ storage: any JobStorage) async throws -> Int {
        try await storage.stats().queues.values.reduce(0) { $0 + $1.values.reduce(0, +) }
    }

    static let edgeCases: [ConformanceCase] = [
        ConformanceCase(name: "edges: values out of range are refused naming the field, alone or in a batch, and nothing is stored") {
            storage in
            let clock = ManualClock(start: t0)
            let client = SpoolClient(storage: storage, clock: clock, middleware: [])
            for refusal in refusals {
                for batch in [[refusal.make(t0)], [probe(t0), refusal.make(t0), probe(t0)]] {
                    do {
                        _ = try await client.enqueue(batch, whenFull: .fail)
                        try check(false, "\(refusal.what) was accepted")
                    } catch let error as SpoolError {
                        try check(error.code == .invalidArgument, "\(refusal.what): invalidArgument, got \(error.code)")
                        try check(
                            error.message.contains(refusal.field), "\(refusal.what): the error names \(refusal.field): \(error.message)")
                    }
                    // The driver refuses the same job when handed it directly.
                    do {
                        _ = try await storage.enqueue(batch, whenFull: .fail, now: t0)
                        try check(false, "\(refusal.what) was accepted by the driver itself")
                    } catch let error as SpoolError {
                        try check(error.code == .invalidArgument, "\(refusal.what), driver: invalidArgument, got \(error.code)")
                    }
                }
            }
            try check(try await storedJobs(storage) == 0, "nothing of any refused batch was stored")
        },
        ConformanceCase(name: "edges: values at the ends of their ranges are stored, run and end in a final state") { storage in
            let clock = ManualClock(start: t0)
            let registry = JobRegistry()
            // value 1: succeeds; 2: fails once with a retry delay past year 9999; 3: snoozes
            // for Int64.max seconds. Both far-off waits are stored as 9999-12-31.
            registry.register(
                ProbeJob.self, options: JobOptions(maxAttempts: 3, retry: .custom { _ in .seconds(Int64.max) })
            ) { job, _ in
                switch job.value {
                case 2: throw ProbeError(message: "once")
                case 3: throw Snooze(for: .seconds(Int64.max))
                default: return job.value
                }
            }
            // A metrics backend of the case's own: the middleware's arithmetic runs for real.
            let metrics = TestMetrics()
            let client = SpoolClient(storage: storage, registry: registry, clock: clock, middleware: [MetricsMiddleware(factory: metrics)])
            let nfc = "caf\u{E9}"
            let nfd = "cafe\u{301}"
            let long = String(repeating: "é", count: JobInput.maximumNameLength)
            // The worker names the queue in NFD: it serves the one NFC queue all the same.
            let worker = Worker(
                storage: storage, registry: registry,
                configuration: WorkerConfiguration(
                    queues: ["default", WorkerQueue(nfd), WorkerQueue(long)], concurrency: 4, rescueInterval: nil),
                middleware: [MetricsMiddleware(factory: metrics), LoggingMiddleware(logger: Logger(label: "spool.edges"))], clock: clock
            )
            let jobs: [(NewJob, JobState)] = [
                (probe(t0, runAt: JobInput.earliestRunAt), .succeeded),
                (probe(t0, priority: JobInput.priorityRange.lowerBound), .succeeded),
                (probe(t0, priority: JobInput.priorityRange.upperBound), .succeeded),
                (probe(t0, maxAttempts: JobInput.maximumAttempts, timeout: JobInput.maximumDuration), .succeeded),
                (probe(t0, queue: nfc), .succeeded),
                (probe(t0, queue: nfd), .succeeded),
                (probe(t0, queue: long), .succeeded),
                (probe(t0, runAt: JobInput.latestRunAt), .cancelled),
            ]
            try await withRunningWorker(worker) {
                var outcomes: [JobID: JobState] = [:]
                var ids: [(JobID, JobState)] = []
                for (job, expected) in jobs {
                    ids.append((try await client.enqueue([job], whenFull: .fail)[0].id, expected))
                }
                let retried = try await client.enqueue(ProbeJob(value: 2)).id
                let snoozed = try await client.enqueue(ProbeJob(value: 3)).id
                for id in [retried, snoozed] {
                    let waiting = try await waitForJob(storage, id, "the far-off wait is stored") {
                        $0.state == .scheduled && $0.attemptedAt != nil
                    }
                    try check(waiting.runAt == JobInput.latestRunAt, "a wait past 9999 is stored as 9999-12-31: \(waiting.runAt)")
                    ids.append((id, .cancelled))
                }
                for (id, expected) in ids where expected == .succeeded {
                    outcomes[id] = try await waitForJob(storage, id, "job \(id) finished") { $0.state.isFinished }.state
                }
                let waiting = ids.filter { $0.1 == .cancelled }.map(\.0)
                let cancelled = try await storage.cancel(waiting, now: clock.now)
                try check(Set(cancelled) == Set(waiting), "the far-off jobs can be cancelled")
                for id in waiting { outcomes[id] = try await storage.job(id)?.state }
                for (id, expected) in ids {
                    try check(
                        outcomes[id] == expected, "job \(id) ended \(expected.rawValue), got \(outcomes[id].map(\.rawValue) ?? "nothing")")
                }
            }
            // The 1970 job waited 60 years for a worker, and metrics say so.
            let latencies = try metrics.expectTimer("spool_queue_latency_seconds", [("queue", "default")]).values
            let sixtyYears: Int64 = 60 * 365 * 86_400 * 1_000_000_000
            try check(latencies.contains { $0 >= sixtyYears }, "the 1970 job's queue latency is recorded: \(latencies)")
            // A driver handed a name in NFD directly (not through SpoolClient) stores it in NFC.
            let direct = try await storage.enqueue([probe(t0, queue: nfd, runAt: JobInput.latestRunAt)], whenFull: .fail, now: t0)[0].id
            try check(try await storage.job(direct).map { Array($0.queue.utf8) } == Array(nfc.utf8), "the driver stores the NFC spelling")
            _ = try await storage.cancel([direct], now: t0)
            // One normalisation rule: NFC and NFD spellings of a name count as one queue, stored
            // in NFC. (Swift's `==` already treats the two as equal: compare the bytes.)
            let stats = try await storage.stats()
            let stored = stats.queues.keys.map { Array($0.utf8) }
            try check(stored.contains(Array(nfc.utf8)) && !stored.contains(Array(nfd.utf8)), "the queue is stored in NFC: \(stored)")
            try check(stats.queues[nfc]?[.succeeded] == 2, "both spellings count in the NFC queue: \(stats.queues[nfc] ?? [:])")
        },
    ]
}
