import Foundation
import Spool
import SpoolSQLite
import SpoolTesting
import Subprocess
import Testing

/// The claim race between two real processes.
///
/// The test process runs this same test binary twice more as children (on Linux it is
/// `/proc/self/exe`, run with `--testing-library swift-testing --filter claimRaceChild`); in a
/// child, the environment names the database file, so only ``claimRaceChild()`` is enabled and
/// it runs a worker's claim loop with the real driver against the shared file. The children
/// and the parent coordinate through the file itself: each child enqueues a "ready" job, the
/// parent resumes the paused "race" queue once both are there (the children notice by polling,
/// as workers of separate processes do).
@Suite("SQLite driver across processes")
struct SQLiteMultiProcessTests {
    enum Environment {
        static let database = "SPOOL_SQLITE_RACE_DB"
        static let worker = "SPOOL_SQLITE_RACE_WORKER"
        static let output = "SPOOL_SQLITE_RACE_OUT"

        static var isChild: Bool { ProcessInfo.processInfo.environment[database] != nil }

        /// This test binary, which the parent runs again as the children.
        static var testBinary: String? {
            #if os(Linux)
            return try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
            #else
            return nil  // swift-testing runs tests inside a helper process on macOS
            #endif
        }
    }

    static let jobCount = 2000

    @Test(
        "two processes claiming from one file never get the same job",
        .enabled(if: !Environment.isChild && Environment.testBinary != nil, "needs to re-run the test binary (Linux)"),
        .timeLimit(.minutes(3))
    )
    func claimRaceBetweenTwoProcesses() async throws {
        let binary = try #require(Environment.testBinary)
        try await withTemporaryFolder { folder in
            let path = folder + "/race.sqlite"
            let storage = try SQLiteStorage(path: path, configuration: .init(pollInterval: .milliseconds(20)))
            let now = Date()
            let ids = try await storage.enqueue(
                (0..<Self.jobCount).map { _ in
                    NewJob(queue: "race", kind: "race", payload: JobPayload(bytes: []), runAt: now, createdAt: now)
                },
                whenFull: .fail, now: now
            ).map(\.id)
            try await storage.setPaused(true, queue: "race")

            let workers = ["child-a", "child-b"]
            let exits = EventRecorder<String>()
            // The children run as tasks of this group: if the test fails before they exit,
            // leaving the group cancels them, which SIGKILLs them (swift-subprocess's teardown).
            let ended = try await withThrowingTaskGroup(of: (worker: String, status: Int32, log: String)?.self) { group in
                for worker in workers {
                    let environment: [Subprocess.Environment.Key: String?] = [
                        .init(stringLiteral: Environment.database): path,
                        .init(stringLiteral: Environment.worker): worker,
                        .init(stringLiteral: Environment.output): "\(folder)/\(worker).ids",
                    ]
                    group.addTask {
                        let result = try await Subprocess.run(
                            .path(.init(binary)), arguments: ["--testing-library", "swift-testing", "--filter", "claimRaceChild"],
                            environment: .inherit.updating(environment), output: .string(limit: .max), error: .combinedWithOutput
                        )
                        exits.record(worker)
                        let status: Int32 =
                            switch result.terminationStatus {
                            case .exited(let code): code
                            case .signaled(let signal): signal
                            }
                        return (worker, status, result.standardOutput)
                    }
                }

                // Both children have opened the file and are polling the paused queue: start the race.
                try await Expectation.eventually(timeout: .seconds(60), "both children ready") {
                    if try await storage.stats().count(.available, queue: "ready") >= workers.count { return true }
                    if exits.count > 0 { return true }  // a child died early: reported below
                    await storage.waitForWork(queues: ["ready"], deadline: Date().addingTimeInterval(1), clock: SystemClock())
                    return false
                }
                try await storage.setPaused(false, queue: "race")
                group.addTask {
                    try? await Task.sleep(for: .seconds(150))
                    return nil
                }
                var ended: [(worker: String, status: Int32, log: String)] = []
                while ended.count < workers.count, let next = try await group.next() {
                    ended.append(try #require(next, "the children did not both exit within 150 s"))
                }
                group.cancelAll()
                return ended
            }

            for (worker, status, log) in ended {
                #expect(status == 0, "child \(worker) failed (exit \(status)):\n\(log.suffix(4000))")
            }
            var claimedBy: [JobID: String] = [:]
            var total = 0
            for worker in workers {
                let text = try String(contentsOfFile: "\(folder)/\(worker).ids", encoding: .utf8)
                let mine = text.split(separator: "\n").compactMap { JobID($0) }
                #expect(!mine.isEmpty, "\(worker) claimed nothing: the race did not happen")
                total += mine.count
                for id in mine {
                    #expect(claimedBy[id] == nil, "job \(id) claimed by \(claimedBy[id] ?? "") and \(worker)")
                    claimedBy[id] = worker
                }
            }
            #expect(total == Self.jobCount && Set(claimedBy.keys) == Set(ids), "each job claimed exactly once: \(total) claims")
            // Jobs are claimed in id order: count how often the claimant changes along that
            // order, to show that the two processes really took turns.
            let owners = ids.compactMap { claimedBy[$0] }
            let turns = zip(owners, owners.dropFirst()).filter { $0 != $1 }.count
            #expect(turns >= 10, "the children took turns only \(turns) times: the race barely happened")
            print(
                "claim race: \(workers.map { w in "\(w) \(owners.filter { $0 == w }.count)" }.joined(separator: ", ")) jobs, \(turns) turns"
            )

            // The file agrees: every job ran once (attempt 1), finished by the child that claimed it.
            var cursor: JobID?
            var checked = 0
            repeat {
                let page = try await storage.jobs(JobFilter(queue: "race"), after: cursor, limit: 500)
                for record in page.jobs {
                    let owner = record.result.map { String(decoding: $0, as: UTF8.self) }
                    #expect(
                        record.state == .succeeded && record.attempt == 1 && owner == claimedBy[record.id],
                        "\(record.id): \(record.state) attempt \(record.attempt) by \(owner ?? "-")")
                    checked += 1
                }
                cursor = page.nextCursor
            } while cursor != nil
            #expect(checked == Self.jobCount)
        }
    }

    /// One side of the race; runs only in a child process started by the test above.
    @Test(.enabled(if: Environment.isChild))
    func claimRaceChild() async throws {
        let environment = ProcessInfo.processInfo.environment
        let path = try #require(environment[Environment.database])
        let worker = try #require(environment[Environment.worker])
        let output = try #require(environment[Environment.output])
        let storage = try SQLiteStorage(path: path, configuration: .init(pollInterval: .milliseconds(20)))
        let clock = SystemClock()
        _ = try await storage.enqueue(
            [NewJob(queue: "ready", kind: "ready", payload: JobPayload(bytes: Array(worker.utf8)), runAt: clock.now, createdAt: clock.now)],
            whenFull: .fail, now: clock.now
        )
        var mine: [JobID] = []
        while true {
            let request = ClaimRequest(
                demands: [QueueDemand(queue: "race", limit: Int.random(in: 1...8))], worker: worker, lease: .seconds(600))
            let batch = try await storage.claim(request, now: clock.now)
            if batch.isEmpty {
                let paused = try await storage.pausedQueues().contains("race")
                let stats = try await storage.stats()
                let waiting = stats.count(.available, queue: "race") + stats.count(.scheduled, queue: "race")
                if !paused && waiting == 0 { break }
                await storage.waitForWork(queues: ["race"], deadline: clock.now.addingTimeInterval(1), clock: clock)
                continue
            }
            mine += batch.map(\.id)
            let lost = try await storage.finish(
                batch.map { JobCompletion(id: $0.id, outcome: .succeeded(result: Array(worker.utf8)), at: clock.now) }, worker: worker
            ).lost
            #expect(lost.isEmpty, "\(worker) lost leases it had just claimed: \(lost)")
        }
        let text = mine.map(\.description).joined(separator: "\n")
        try text.write(toFile: output, atomically: true, encoding: .utf8)
    }
}
