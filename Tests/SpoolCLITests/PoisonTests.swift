import Foundation
import Spool
import SpoolSQLite
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A job whose handler kills its process is contained: Swift cannot catch a trap in-process, so
/// the answer is the poison rule. Each crash leaves the job `running` with a lease no one
/// renews; the rescue returns it; once its lease has expired more than `poisonAfter` (3) times in
/// a row it goes to `dead` with reason `poison`, and the restarted worker is healthy again.
@Suite("a job that kills its worker", .timeLimit(.minutes(3)))
struct PoisonTests {
    static let others = 200
    static let crashKind = "test.crash"

    @Test("spool work restarted after each crash: the crashing job ends dead as poison, every other job succeeds once")
    func crashingJobIsPoison() async throws {
        try await withTemporaryFolder { folder in
            let path = "\(folder)/jobs.sqlite"
            let storage = try SQLiteStorage(path: path)
            let now = Date()
            let noop = JobPayload(bytes: Array("{}".utf8))
            // The crashing job first (priority 1), so every worker that starts claims it again as
            // soon as the rescue has returned it. One slot: a crash takes no other job with it.
            let crash = NewJob(kind: Self.crashKind, payload: noop, priority: 1, runAt: now, createdAt: now)
            let others = (0..<Self.others).map { _ in NewJob(kind: "spool.noop", payload: noop, runAt: now, createdAt: now) }
            _ = try await storage.enqueue([crash] + others, whenFull: .fail, now: now)
            try storage.close()

            // Short leases and rescues so each crash comes back within about a second.
            let work = [
                "work", "--database", "sqlite:\(path)", "--concurrency", "1", "--lease", "1", "--rescue-interval", "0.3",
                "--test-crash-kind", Self.crashKind,
            ]
            // No backtrace printing: the crash is expected, and the backtracer takes seconds.
            let environment = ["SWIFT_BACKTRACE": "enable=no"]
            let watcher = try SQLiteStorage(path: path, configuration: .init(readers: 1, migrateOnOpen: false))
            defer { try? watcher.close() }

            // The supervisor: restart the worker each time it dies, up to a bound.
            var crashes = 0
            var worker = try SpoolChild(work, in: folder, environment: environment)
            while true {
                do {
                    // Every job final, or the worker died (then ChildExited: restart it).
                    try await watchStorage(watcher, while: worker, timeout: .seconds(60), "every job finished") {
                        $0.count(.succeeded) + $0.count(.dead) + $0.count(.cancelled) == Self.others + 1
                    }
                    break
                } catch is ChildExited {}
                let status = try await worker.waitForExit(timeout: .seconds(5))
                #expect(status != 0, "the worker died of the crashing job, not a clean exit: \(worker.output.stderr.suffix(400))")
                worker.removeOutput()
                crashes += 1
                try #require(crashes <= 8, "the crashing job is still killing workers after \(crashes) crashes")
                worker = try SpoolChild(work, in: folder, environment: environment)
            }
            worker.send(SIGTERM)
            #expect(
                try await worker.waitForExit(timeout: .seconds(30)) == 0, "the last worker is healthy: \(worker.output.stderr.suffix(400))")
            worker.removeOutput()

            let records = try await allJobs(in: watcher)
            let poisoned = try #require(records.first { $0.kind == Self.crashKind })
            #expect(poisoned.state == .dead)
            #expect(poisoned.lastError?.reason == "poison", "\(poisoned.errors)")
            #expect(
                poisoned.lastError?.message.contains("lease expired") == true,
                "the reason names the repeated lease expiry: \(poisoned.errors)")
            // Three expiries are rescued (and run again); the fourth makes it poison: four crashes.
            #expect(crashes == 4, "one crash per run of the poison job: \(crashes)")
            let rest = records.filter { $0.kind != Self.crashKind }
            #expect(rest.count == Self.others)
            #expect(rest.allSatisfy { $0.state == .succeeded }, "\(Dictionary(grouping: rest, by: \.state).mapValues(\.count))")
            #expect(rest.allSatisfy { $0.attempt == 1 && $0.errors.isEmpty }, "every other job ran exactly once")
        }
    }
}
