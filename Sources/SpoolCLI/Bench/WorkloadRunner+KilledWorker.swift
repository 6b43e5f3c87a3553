// WorkloadRunner: W6, a `spool work` child process killed mid-run.
import Foundation
import Spool

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension WorkloadRunner {
    /// W6: `jobs` `spool.sleep` jobs of 20 ms in a file; a child `spool work` (this executable)
    /// with a 2 s lease and a 1 s rescue interval runs them; the bench reads the counts from the
    /// file every 100 ms and SIGKILLs the child once about 30 % have succeeded, starts a second
    /// child, and waits (bounded) until every job is finished.
    ///
    /// Figures, read from the file: finished (succeeded), lost (jobs − finished), twice (jobs
    /// claimed more than once: attempt ≥ 2; this counts the killed worker's claimed-but-unstarted
    /// jobs too, so it bounds the jobs that really ran twice from above).
    func killedWorker(jobs: Int, concurrency: Int, label: String) async throws -> Figures {
        return try await withStore(capacity: jobs) { store -> Figures in
            guard let url = store.url else { throw CLIError("W6 needs a durable driver: its child process opens the store by URL") }
            let storage = store.storage
            let client = SpoolClient(storage: storage, registry: BuiltinJobs.registry())
            var next = 0
            while next < jobs {
                let end = min(jobs, next + Self.batchSize)
                _ = try await client.enqueue(Array(repeating: BuiltinJobs.Sleep(ms: 20), count: end - next))
                next = end
            }

            let executable = try ChildProcess.currentExecutable()
            let arguments = [
                "work", "--database", url, "--concurrency", "\(concurrency)", "--lease", "2",
                "--rescue-interval", "1", "--drain-timeout", "5", "--log-level", "error",
            ]
            let killAt = max(1, jobs * 3 / 10)
            let succeeded = Counter()
            let watchLimit = Duration.seconds(60)
            let finishLimit = Duration.seconds(60) + .milliseconds(20) * jobs

            /// Reads the succeeded and finished counts from the file.
            @Sendable func readCounts() async throws -> (succeeded: Int, finished: Int) {
                let stats = try await storage.stats()
                let done = stats.count(.succeeded)
                succeeded.set(done)
                return (done, done + stats.count(.dead) + stats.count(.cancelled))
            }

            try await progress.track("\(label) run", total: jobs, count: succeeded.read) {
                // The first child is SIGKILLed once about 30 % have succeeded; its exit status is moot.
                _ = try await ChildProcess.run(executable: executable, arguments: arguments, stopGrace: .seconds(1)) { first in
                    let deadline = ContinuousClock.now + watchLimit
                    while try await readCounts().succeeded < killAt {
                        if let status = first.exitStatus { throw BenchError.workerExited(.w6, status: status) }
                        guard ContinuousClock.now < deadline else {
                            throw BenchError.phaseTimedOut(
                                .w6, phase: "waiting for \(killAt) jobs to succeed before the kill", after: watchLimit)
                        }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    first.send(SIGKILL)
                }

                let (_, status) = try await ChildProcess.run(executable: executable, arguments: arguments, stopGrace: .seconds(10)) {
                    second in
                    let deadline = ContinuousClock.now + finishLimit
                    while try await readCounts().finished < jobs && ContinuousClock.now < deadline {
                        if let status = second.exitStatus { throw BenchError.workerExited(.w6, status: status) }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
                if status != 0 {
                    Terminal.printError("W6: the second `spool work` exited with status \(status) after SIGTERM (expected 0)")
                }
            }

            let finished = try await readCounts().succeeded
            var twice = 0
            var cursor: JobID?
            repeat {
                let page = try await storage.jobs(JobFilter(kind: BuiltinJobs.Sleep.kind), after: cursor, limit: 1_000)
                twice += page.jobs.count { $0.attempt >= 2 }
                cursor = page.nextCursor
            } while cursor != nil

            var figures = Figures(jobs: jobs)
            figures.finished = finished
            figures.lost = jobs - finished
            figures.twice = twice
            return figures
        }
    }
}
