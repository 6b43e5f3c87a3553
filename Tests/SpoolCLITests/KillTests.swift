import Foundation
import Spool
import SpoolSQLite
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Issue 3's crash test: a `spool work` process killed with SIGKILL mid-run loses nothing.
@Suite("spool work killed mid-run", .timeLimit(.minutes(3)))
struct KillTests {
    static let jobs = 300

    @Test("SIGKILL a worker mid-run, start another: every job finishes, none is lost")
    func killedWorkerLosesNothing() async throws {
        try await withTemporaryFolder { folder in
            let path = "\(folder)/jobs.sqlite"
            let database = ["--database", "sqlite:\(path)"]

            // 300 jobs of 100 ms, enqueued through the CLI's storage (one batch). Three seconds of
            // work at concurrency 10 leave a wide margin for the kill to land mid-run even when
            // the machine is busy (with 20 ms jobs a loaded CI machine finished them all
            // between the last reading and the kill).
            let storage = try SQLiteStorage(path: path)
            let now = Date()
            let ids = try await storage.enqueue(
                (0..<Self.jobs).map { _ in
                    NewJob(kind: "spool.sleep", payload: JobPayload(bytes: Array(#"{"ms": 100}"#.utf8)), runAt: now, createdAt: now)
                },
                whenFull: .fail, now: now
            ).map(\.id)
            try storage.close()
            #expect(Set(ids).count == Self.jobs)

            // Ten at a time, 100 ms each: about 3 s of work. Short leases so the killed
            // worker's jobs come back within seconds.
            let work = ["work", "--concurrency", "10", "--lease", "2", "--rescue-interval", "1"] + database
            let first = try SpoolChild(work, in: folder)
            defer { first.removeOutput() }
            let watcher = try SQLiteStorage(path: path, configuration: .init(readers: 1, migrateOnOpen: false))
            let beforeKill = try await killHoldingJobs(first, watcher, after: "60 jobs succeeded") { $0.count(.succeeded) >= 60 }
            try watcher.close()
            let firstStatus = try await first.waitForExit(timeout: .seconds(10))
            #expect(firstStatus == SIGKILL, "killed by the signal, not exited on its own")
            #expect(beforeKill.count(.succeeded) < Self.jobs, "the kill came mid-run")

            // The killed worker held leases: those jobs are running with no one to finish them.
            let orphaned = try await watchStore(at: path, timeout: .seconds(5), "counts after the kill") { _ in true }
            #expect(orphaned.count(.running) > 0, "the killed worker had jobs in hand (\(orphaned.queues))")

            let second = try SpoolChild(work, in: folder)
            defer { second.removeOutput() }
            try await watchStore(at: path, while: second, timeout: .seconds(60), "all \(Self.jobs) jobs finished") {
                $0.count(.succeeded) + $0.count(.dead) + $0.count(.cancelled) == Self.jobs
            }
            second.send(SIGTERM)
            let secondStatus = try await second.waitForExit(timeout: .seconds(30))
            #expect(secondStatus == 0, "graceful shutdown: \(second.output.stderr)")

            // Every job succeeded; the orphaned ones ran again (attempt 2).
            let check = try SQLiteStorage(path: path, configuration: .init(migrateOnOpen: false))
            defer { try? check.close() }
            let records = try await allJobs(in: check)
            let finished = records.filter { $0.state == .succeeded }.count
            let lost = Self.jobs - finished
            let twice = records.filter { $0.attempt >= 2 }.count
            #expect(Set(records.map(\.id)) == Set(ids))
            #expect(finished == Self.jobs && lost == 0, "finished \(finished), lost \(lost)")
            #expect(twice >= 1 && twice <= orphaned.count(.running), "twice \(twice), orphaned \(orphaned.count(.running))")
            let rescued = records.filter { $0.errors.contains { $0.reason == "lease_expired" } }
            #expect(rescued.count == twice, "each job claimed twice was rescued from an expired lease")
        }
    }
}
